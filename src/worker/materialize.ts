// Writes a fetched input tree to disk. Files are hardlinked from the
// filesystem CAS when it is on the same filesystem (executable ones from the
// worker's executable copies), and streamed from the CAS otherwise; either
// way they are read-only. Directories are real directories. Returns what was
// linked from shared files, for the tamper check after the action.
import { createWriteStream } from 'node:fs';
import { link, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LinkableFiles, StoreDriver } from '../stores/store.js';
import { type Digest, digestKey, isEmptyDigest } from '../util/digest.js';
import { isNotFound } from '../util/errors.js';
import { mapConcurrent } from '../util/concurrency.js';
import type { ExecCopies } from './exec-copies.js';
import type { InputTree } from './input-tree.js';
import { MissingBlobsError } from './missing-blobs.js';

export interface InputSources {
  readonly cas: StoreDriver;
  /** The CAS's files, when they are on the work directory's filesystem. */
  readonly linkable: LinkableFiles | undefined;
  /** Where executable inputs are linked from (with `linkable`). */
  readonly execCopies: ExecCopies | undefined;
}

/** A shared file an action was given a hardlink to, as it was when handed out. */
export interface LinkedInput {
  readonly digest: Digest;
  /** The shared file: a CAS content file or an executable copy. */
  readonly source: string;
  readonly fromExecCopies: boolean;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

const LINK_CONCURRENCY = 64;
const READ_ONLY = 0o444;
const READ_ONLY_EXECUTABLE = 0o555;

export async function materialize(tree: InputTree, root: string, sources: InputSources): Promise<LinkedInput[]> {
  await makeDirectories(root, tree.directories);
  await mapConcurrent(tree.symlinks, LINK_CONCURRENCY, (s) => symlink(s.target, join(root, s.path)));

  const linked = new Map<string, LinkedInput>();
  const sourceOf = new Map<string, Promise<string | undefined>>();
  const resolve = (digest: Digest, executable: boolean): Promise<string | undefined> => {
    const key = `${executable ? 'x' : 'r'}${digestKey(digest)}`;
    let found = sourceOf.get(key);
    if (found === undefined) {
      found = sharedFile(sources, digest, executable);
      sourceOf.set(key, found);
    }
    return found;
  };

  await mapConcurrent(tree.files, LINK_CONCURRENCY, async (file) => {
    const dest = join(root, file.path);
    const mode = file.executable ? READ_ONLY_EXECUTABLE : READ_ONLY;
    if (isEmptyDigest(file.digest)) return writeFile(dest, '', { mode, flag: 'wx' });
    const source = await resolve(file.digest, file.executable);
    if (source !== undefined && (await tryLink(source, dest))) {
      const key = `${file.executable ? 'x' : 'r'}${digestKey(file.digest)}`;
      if (!linked.has(key)) {
        const st = await lstat(dest, { bigint: true });
        linked.set(key, {
          digest: file.digest,
          source,
          fromExecCopies: file.executable,
          ino: st.ino,
          size: st.size,
          mtimeNs: st.mtimeNs,
        });
      }
      return;
    }
    await writeBlob(sources.cas, file.digest, dest, mode);
  });
  return [...linked.values()];
}

/** Parents before children: one level at a time, each level in parallel. */
async function makeDirectories(root: string, directories: readonly string[]): Promise<void> {
  const byDepth: string[][] = [];
  for (const dir of directories) {
    const depth = dir.split('/').length - 1;
    (byDepth[depth] ??= []).push(dir);
  }
  for (const level of byDepth) {
    if (level !== undefined) await mapConcurrent(level, LINK_CONCURRENCY, (dir) => mkdir(join(root, dir)));
  }
}

/** The shared file to link `digest` from, or undefined when it must be copied. */
async function sharedFile(sources: InputSources, digest: Digest, executable: boolean): Promise<string | undefined> {
  if (sources.linkable === undefined) return undefined;
  if (executable) return sources.execCopies?.pathFor(digest);
  return sources.linkable.pathOf(digest);
}

/** Links `dest` to `source`; false when that cannot work (evicted meanwhile, link limit, other filesystem). */
async function tryLink(source: string, dest: string): Promise<boolean> {
  try {
    await link(source, dest);
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
