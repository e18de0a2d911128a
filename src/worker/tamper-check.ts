// Permission bits do not stop root, and CI runs actions as root: an action
// can write into an input it was given as a hardlink, which is the cache's
// own file. After each action the worker looks at every shared file it
// handed out: still the same inode with a different size or mtime means
// written in place. A changed size is proof; a changed mtime alone is
// confirmed by hashing (the filesystem store itself sets mtimes when it
// records access times without a catalog). A modified CAS file is evicted
// from the local tier, a modified executable copy is dropped, so the cache
// never serves the changed bytes again. ctime is not used: every link and
// unlink by a concurrent action changes it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { LinkableFiles } from '../stores/store.js';
import type { ExecCopies } from './exec-copies.js';
import type { LinkedInput } from './materialize.js';
import { mapConcurrent } from '../util/concurrency.js';

const CHECK_CONCURRENCY = 32;

/** Returns the inputs found modified (already evicted). */
export async function evictModifiedInputs(
  inputs: readonly LinkedInput[],
  files: LinkableFiles | undefined,
  execCopies: ExecCopies | undefined,
): Promise<LinkedInput[]> {
  const modified: LinkedInput[] = [];
  await mapConcurrent(inputs, CHECK_CONCURRENCY, async (input) => {
    const now = await stat(input.source, { bigint: true }).catch(() => undefined);
    // Gone, or replaced by a new file: the inode the action had is no longer served.
    if (now === undefined || now.ino !== input.ino) return;
    if (now.size === input.size && now.mtimeNs === input.mtimeNs) return;
    if (now.size === input.size && (await hashOf(input.source)) === input.digest.hash) return;
    modified.push(input);
    if (input.fromExecCopies) await execCopies?.discard(input.digest);
    else await files?.evictModified(input.digest, Number(input.ino));
  });
  return modified;
}

async function hashOf(path: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch {
    return undefined;
  }
  return hash.digest('hex');
}
