// Reads an action's input tree from the CAS into a flat plan (directories,
// files, symlinks by path) before anything is written to disk, checking it
// on the way: every Directory decodes and is canonical (entries sorted by
// name, no name twice, names single segments), the tree stays within the
// worker's depth and entry limits, and every blob it needs is present. All
// missing blobs (Directories and files) are reported together, so the client
// re-uploads them in one round.
import { DirectoryCodec, type Directory } from '../proto/reapi.js';
import { readBufferIfPresent, type StoreDriver } from '../stores/store.js';
import { type Digest, digestKey, formatDigest, isEmptyDigest, validateDigest } from '../util/digest.js';
import { errorMessage, invalidArgument } from '../util/errors.js';
import { mapConcurrent } from '../util/concurrency.js';
import { checkEntryName, strictlySorted } from './action-paths.js';
import { MissingBlobsError } from './missing-blobs.js';

export interface InputTreeLimits {
  /** Directory levels below the input root. */
  readonly maxDepth: number;
  /** Files, directories and symlinks in the materialized tree (a repeated subtree counts each time). */
  readonly maxEntries: number;
}

export const DEFAULT_INPUT_TREE_LIMITS: InputTreeLimits = { maxDepth: 256, maxEntries: 1_000_000 };

export interface InputFile {
  /** Relative to the input root. */
  readonly path: string;
  readonly digest: Digest;
  readonly executable: boolean;
}

export interface InputTree {
  /** Relative paths of the directories below the root, parents before children. */
  readonly directories: readonly string[];
  readonly files: readonly InputFile[];
  readonly symlinks: readonly { readonly path: string; readonly target: string }[];
}

/** Largest Directory message read (they are small; this only guards memory against a bogus digest). */
const MAX_DIRECTORY_BYTES = 64 << 20;
const FETCH_CONCURRENCY = 32;
const HAS_BATCH = 1000;

/** Fetches and checks the tree under `rootDigest`; throws MissingBlobsError or INVALID_ARGUMENT. */
export async function fetchInputTree(cas: StoreDriver, rootDigest: Digest, limits: InputTreeLimits): Promise<InputTree> {
  const decoded = new Map<string, Directory>();
  const missing = new Map<string, Digest>();
  const directories: string[] = [];
  const files: InputFile[] = [];
  const symlinks: { path: string; target: string }[] = [];
  let entries = 0;

  // Level by level: fetch the Directories of this level (each digest once), then walk their entries.
  let level: { path: string; digest: Digest }[] = [{ path: '', digest: rootDigest }];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > limits.maxDepth) {
      throw invalidArgument(`input tree: ${level[0]!.path} is ${depth} directories deep; the worker allows at most ${limits.maxDepth}`);
    }
    const toFetch = [...new Map(level.filter((d) => !decoded.has(digestKey(d.digest))).map((d) => [digestKey(d.digest), d])).values()];
    await mapConcurrent(toFetch, FETCH_CONCURRENCY, async ({ path, digest }) => {
      const dir = await readDirectory(cas, digest, path);
      if (dir === undefined) missing.set(digestKey(digest), digest);
      else decoded.set(digestKey(digest), dir);
    });
    const next: { path: string; digest: Digest }[] = [];
    for (const { path, digest } of level) {
      const dir = decoded.get(digestKey(digest));
      if (dir === undefined) continue;
      entries += dir.files.length + dir.directories.length + dir.symlinks.length;
      if (entries > limits.maxEntries) {
        throw invalidArgument(`input tree: more than ${limits.maxEntries} entries (files, directories, symlinks); the worker allows at most ${limits.maxEntries}`);
      }
      const at = (name: string) => (path === '' ? name : `${path}/${name}`);
      for (const file of dir.files) {
        files.push({ path: at(file.name), digest: entryDigest(file.digest, at(file.name)), executable: file.isExecutable });
      }
      for (const sub of dir.directories) {
        const subPath = at(sub.name);
        directories.push(subPath);
        next.push({ path: subPath, digest: entryDigest(sub.digest, subPath) });
      }
      for (const link of dir.symlinks) {
        if (link.target === '' || link.target.includes('\0')) {
          throw invalidArgument(`input tree: symlink ${at(link.name)} has an empty or invalid target`);
        }
        symlinks.push({ path: at(link.name), target: link.target });
      }
    }
    level = next;
  }

  for (const digest of await missingFiles(cas, files)) missing.set(digestKey(digest), digest);
  if (missing.size > 0) throw new MissingBlobsError([...missing.values()]);
  return { directories, files, symlinks };
}

function entryDigest(digest: Digest | null, path: string): Digest {
  if (digest === null) throw invalidArgument(`input tree: ${path} has no digest`);
  return validateDigest(digest, `input tree: digest of ${path}`);
}

/** One Directory, decoded and checked; undefined when the CAS lacks it. */
async function readDirectory(cas: StoreDriver, digest: Digest, path: string): Promise<Directory | undefined> {
  const where = path === '' ? 'the input root' : `directory ${path}`;
  if (isEmptyDigest(digest)) return { files: [], directories: [], symlinks: [], nodeProperties: null };
  const bytes = await readBufferIfPresent(cas, digest, MAX_DIRECTORY_BYTES);
  if (bytes === undefined) return undefined;
  let dir: Directory;
  try {
    dir = DirectoryCodec.decode(bytes);
  } catch (err) {
    throw invalidArgument(`input tree: ${where} (${formatDigest(digest)}) is not a valid Directory message: ${errorMessage(err)}`);
  }
  checkCanonical(dir, where);
  return dir;
}

/** Sorted by name within each list, no name twice across the lists, every name a single segment. */
function checkCanonical(dir: Directory, where: string): void {
  const lists = [
    ['files', dir.files.map((f) => f.name)],
    ['directories', dir.directories.map((d) => d.name)],
    ['symlinks', dir.symlinks.map((s) => s.name)],
  ] as const;
  const seen = new Set<string>();
  for (const [kind, names] of lists) {
    for (const name of names) {
      checkEntryName(name, where);
      if (seen.has(name)) throw invalidArgument(`input tree: ${where} lists the name ${JSON.stringify(name)} twice`);
      seen.add(name);
    }
    if (!strictlySorted(names)) throw invalidArgument(`input tree: ${where} is not canonical: its ${kind} are not sorted by name`);
  }
}

/** The file digests the CAS lacks (each asked about once; the empty blob is always present). */
async function missingFiles(cas: StoreDriver, files: readonly InputFile[]): Promise<Digest[]> {
  const unique = [...new Map(files.filter((f) => !isEmptyDigest(f.digest)).map((f) => [digestKey(f.digest), f.digest])).values()];
  const missing: Digest[] = [];
  for (let i = 0; i < unique.length; i += HAS_BATCH) {
    const batch = unique.slice(i, i + HAS_BATCH);
    const sizes = await cas.has(batch);
    batch.forEach((d, j) => {
      if (sizes[j] === undefined) missing.push(d);
    });
  }
  return missing;
}
