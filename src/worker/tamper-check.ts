// Permission bits do not stop root, and CI runs actions as root: an action
// can write into an input it was given as a hardlink, which is the cache's
// own file. After each action the worker looks at every shared file it
// handed out. A size other than the digest's is proof of a write; an mtime
// from the run onwards is a suspicion, confirmed by hashing the file (the
// filesystem store itself sets mtimes when it records access times without a
// catalog, and a file uploaded just before the run looks recent too). A
// modified CAS file is evicted from the local tier (only while it is still
// the inode found modified), a modified executable copy is dropped, so the
// cache never serves the changed bytes again. ctime is not used: every link
// and unlink by a concurrent action changes it. Not caught: an action that
// writes the same number of bytes and then sets the old mtime back.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import type { LinkableFiles } from '../stores/store.js';
import { mapConcurrent } from '../util/concurrency.js';
import type { ExecCopies } from './exec-copies.js';
import type { LinkedInput } from './materialize.js';

const HASH_CONCURRENCY = 4;
/** Synchronous stats between two yields to the event loop. */
const SYNC_BATCH = 256;
/** File mtimes come from the kernel's coarse clock, which may lag the run's start by a tick. */
const MTIME_SLACK_MS = 50;

/** Returns the inputs found modified (already evicted). `sinceMs`: when the run started. */
export async function evictModifiedInputs(
  inputs: readonly LinkedInput[],
  sinceMs: number,
  files: LinkableFiles | undefined,
  execCopies: ExecCopies | undefined,
): Promise<LinkedInput[]> {
  const suspects: { input: LinkedInput; ino: number; resized: boolean }[] = [];
  for (let i = 0; i < inputs.length; i++) {
    if (i > 0 && i % SYNC_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const input = inputs[i]!;
    const now = statOrUndefined(input.source);
    if (now === undefined) continue; // evicted meanwhile: nothing serves it
    const resized = now.size !== input.digest.sizeBytes;
    if (resized || now.mtimeMs >= sinceMs - MTIME_SLACK_MS) suspects.push({ input, ino: now.ino, resized });
  }
  const modified: LinkedInput[] = [];
  await mapConcurrent(suspects, HASH_CONCURRENCY, async ({ input, ino, resized }) => {
    if (!resized && (await hashOf(input.source)) === input.digest.hash) return;
    modified.push(input);
    if (input.fromExecCopies) await execCopies?.discard(input.digest);
    else await files?.evictModified(input.digest, ino);
  });
  return modified;
}

/** Synchronous (microseconds; see materialize.ts), one per distinct input. */
function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
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
