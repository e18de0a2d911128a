// The blobs a forwarded action moves between the local CAS and the
// upstream's: what an action needs (Action, Command, every Directory and
// file of its input tree) and what its result names (output files, the
// Trees of output directories and the files in them, stdout, stderr), and
// the streamed copy of whichever of them the destination lacks.
import { type ActionResult, DirectoryCodec, type Directory, TreeCodec } from '../proto/reapi.js';
import { readBufferIfPresent, type StoreDriver } from '../stores/store.js';
import { mapConcurrent } from '../util/concurrency.js';
import { type Digest, digestKey, formatDigest, isEmptyDigest } from '../util/digest.js';
import { errorMessage, invalidArgument } from '../util/errors.js';
import type { JobRequest } from './job.js';

/** Directory and Tree messages are small; this only guards memory against a bogus digest. */
const MAX_TREE_MESSAGE_BYTES = 64 << 20;
const COPY_CONCURRENCY = 4;
const READ_CONCURRENCY = 16;

/** Distinct, non-empty digests (the empty blob is always present everywhere). */
function distinct(digests: Iterable<Digest | null | undefined>): Digest[] {
  const out = new Map<string, Digest>();
  for (const d of digests) if (d && !isEmptyDigest(d)) out.set(digestKey(d), d);
  return [...out.values()];
}

/**
 * Every blob the action names that `cas` can show: the Action, the Command
 * and the input tree. A Directory `cas` lacks is listed but not walked (the
 * upstream reports it missing again, and so does this daemon to its client).
 */
export async function actionBlobs(cas: StoreDriver, request: JobRequest): Promise<Digest[]> {
  const found: (Digest | null)[] = [request.actionDigest, request.action.commandDigest];
  const seen = new Set<string>();
  let level = distinct([request.action.inputRootDigest]);
  while (level.length > 0) {
    const next: Digest[] = [];
    const directories = await mapConcurrent(level, READ_CONCURRENCY, (d) => readMessage(cas, d, 'Directory', (b) => DirectoryCodec.decode(b)));
    level.forEach((digest, i) => {
      seen.add(digestKey(digest));
      found.push(digest);
      const dir: Directory | undefined = directories[i];
      if (dir === undefined) return;
      for (const file of dir.files) found.push(file.digest);
      for (const child of dir.directories) if (child.digest && !seen.has(digestKey(child.digest))) next.push(child.digest);
    });
    level = distinct(next).filter((d) => !seen.has(digestKey(d)));
  }
  return distinct(found);
}

/** The blobs a result names directly: output files, output directories' Trees, stdout, stderr. */
export function resultBlobs(result: ActionResult): Digest[] {
  return distinct([...result.outputFiles.map((f) => f.digest), ...result.outputDirectories.map((d) => d.treeDigest), result.stdoutDigest, result.stderrDigest]);
}

/** The files inside the result's output-directory Trees, read from `cas` (which must hold the Trees by now). */
export async function treeFileBlobs(cas: StoreDriver, result: ActionResult): Promise<Digest[]> {
  const trees = distinct(result.outputDirectories.map((d) => d.treeDigest));
  const decoded = await mapConcurrent(trees, READ_CONCURRENCY, (d) => readMessage(cas, d, 'Tree', (b) => TreeCodec.decode(b)));
  return distinct(decoded.flatMap((tree) => (tree === undefined ? [] : [tree.root, ...tree.children]).flatMap((dir) => dir?.files.map((f) => f.digest) ?? [])));
}

export interface CopyReport {
  /** Copied now. */
  readonly copied: number;
  /** The destination lacked them and so did the source. */
  readonly absent: Digest[];
}

/** Streams each of `digests` the destination lacks from `from` to `to`, a few at a time. */
export async function copyMissing(from: StoreDriver, to: StoreDriver, digests: readonly Digest[]): Promise<CopyReport> {
  if (digests.length === 0) return { copied: 0, absent: [] };
  const sizes = await to.has(digests);
  const lacking = digests.filter((_, i) => sizes[i] === undefined);
  const available = lacking.length === 0 ? [] : await from.has(lacking);
  const absent = lacking.filter((_, i) => available[i] === undefined);
  const toCopy = lacking.filter((_, i) => available[i] !== undefined);
  await mapConcurrent(toCopy, COPY_CONCURRENCY, (digest) => copyBlob(from, to, digest));
  return { copied: toCopy.length, absent };
}

/**
 * One blob, streamed. A destination that fails before reading the source to
 * its end does not release it, so it is released here: an upstream read left
 * open would hold its call and its request slot (max_concurrent_requests).
 */
async function copyBlob(from: StoreDriver, to: StoreDriver, digest: Digest): Promise<void> {
  const source = (await from.getPart(digest, 0))[Symbol.asyncIterator]();
  try {
    await to.update(digest, { [Symbol.asyncIterator]: () => source }, digest.sizeBytes);
  } catch (err) {
    await source.return?.();
    throw err;
  }
}

async function readMessage<T>(cas: StoreDriver, digest: Digest, what: string, decode: (bytes: Buffer) => T): Promise<T | undefined> {
  const bytes = await readBufferIfPresent(cas, digest, MAX_TREE_MESSAGE_BYTES);
  if (bytes === undefined) return undefined;
  try {
    return decode(bytes);
  } catch (err) {
    throw invalidArgument(`the blob ${formatDigest(digest)} is not a valid ${what} message (${errorMessage(err)})`);
  }
}
