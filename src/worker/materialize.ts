// Writes a fetched input tree to disk. Files are hardlinked from the
// filesystem CAS when it is on the same filesystem (executable ones from the
// worker's executable copies), and streamed from the CAS otherwise; either
// way they are read-only. Directories are real directories. Returns the
// shared files it linked, for the tamper check after the action.
//
// The links, directories and symlinks are made with synchronous calls in
// small batches, yielding to the event loop between batches: one call takes
// microseconds, while the async form costs a thread-pool round trip each,
// which made a 10,000-file tree take seconds on a loaded machine.
import { createWriteStream, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LinkableFiles, StoreDriver } from '../stores/store.js';
import { type Digest, digestKey, isEmptyDigest } from '../util/digest.js';
import { isNotFound } from '../util/errors.js';
import { mapConcurrent } from '../util/concurrency.js';
import type { ExecCopies } from './exec-copies.js';
import type { InputFile, InputTree } from './input-tree.js';
import { MissingBlobsError } from './missing-blobs.js';

export interface InputSources {
  readonly cas: StoreDriver;
  /** The CAS's files, when they are on the work directory's filesystem. */
  readonly linkable: LinkableFiles | undefined;
  /** Where executable inputs are linked from (with `linkable`). */
  readonly execCopies: ExecCopies | undefined;
}

/** A shared file an action was given hardlinks to. */
export interface LinkedInput {
  readonly digest: Digest;
  /** The shared file: a CAS content file or an executable copy. */
  readonly source: string;
  readonly fromExecCopies: boolean;
}

/** Synchronous calls between two yields to the event loop. */
const SYNC_BATCH = 256;
const RESOLVE_CONCURRENCY = 16;
const COPY_CONCURRENCY = 8;
const READ_ONLY = 0o444;
const READ_ONLY_EXECUTABLE = 0o555;

export async function materialize(tree: InputTree, root: string, sources: InputSources): Promise<LinkedInput[]> {
  await inBatches(tree.directories, (dir) => mkdirSync(join(root, dir)));
  await inBatches(tree.symlinks, (s) => symlinkSync(s.target, join(root, s.path)));

  // The shared file of each distinct (digest, executable) pair, found once.
  const keyOf = (f: InputFile) => `${f.executable ? 'x' : 'r'}${digestKey(f.digest)}`;
  const distinct = new Map<string, InputFile>();
  for (const file of tree.files) if (!isEmptyDigest(file.digest)) distinct.set(keyOf(file), file);
  const sourceOf = new Map<string, string>();
  await mapConcurrent([...distinct], RESOLVE_CONCURRENCY, async ([key, file]) => {
    const source = await sharedFile(sources, file.digest, file.executable);
    if (source !== undefined) sourceOf.set(key, source);
  });

  const linked = new Map<string, LinkedInput>();
  const toCopy: InputFile[] = [];
  await inBatches(tree.files, (file) => {
    const dest = join(root, file.path);
    if (isEmptyDigest(file.digest)) return writeFileSync(dest, '', { mode: modeOf(file), flag: 'wx' });
    const key = keyOf(file);
    const source = sourceOf.get(key);
    if (source === undefined || !tryLink(source, dest)) return void toCopy.push(file);
    if (!linked.has(key)) linked.set(key, { digest: file.digest, source, fromExecCopies: file.executable });
  });
  await mapConcurrent(toCopy, COPY_CONCURRENCY, (file) => writeBlob(sources.cas, file.digest, join(root, file.path), modeOf(file)));
  return [...linked.values()];
}

const modeOf = (file: InputFile) => (file.executable ? READ_ONLY_EXECUTABLE : READ_ONLY);

/** Runs `op` over `items` in order, yielding to the event loop every SYNC_BATCH items. */
async function inBatches<T>(items: readonly T[], op: (item: T) => void): Promise<void> {
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % SYNC_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    op(items[i]!);
  }
}

/** The shared file to link `digest` from, or undefined when it must be copied. */
async function sharedFile(sources: InputSources, digest: Digest, executable: boolean): Promise<string | undefined> {
  if (sources.linkable === undefined) return undefined;
  if (executable) return sources.execCopies?.pathFor(digest);
  return sources.linkable.pathOf(digest);
}

/** Links `dest` to `source`; false when that cannot work (evicted meanwhile, link limit, other filesystem). */
function tryLink(source: string, dest: string): boolean {
  try {
    linkSync(source, dest);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EMLINK' || code === 'EXDEV' || code === 'EPERM') return false;
    throw err;
  }
}

/** Streams a blob from the CAS into a new file (never whole in memory). */
export async function writeBlob(cas: StoreDriver, digest: Digest, dest: string, mode: number): Promise<void> {
  let stream: AsyncIterable<Buffer>;
  try {
    stream = await cas.getPart(digest, 0);
  } catch (err) {
    if (isNotFound(err)) throw new MissingBlobsError([digest]);
    throw err;
  }
  await pipeline(Readable.from(stream), createWriteStream(dest, { flags: 'wx', mode }));
}
