// Collects an action's outputs from its working directory after the run:
// files (hashed from disk), directories (as Tree messages: the root plus
// every descendant Directory once, parents before children), symlinks (in
// output_symlinks and in the deprecated output_file_symlinks /
// output_directory_symlinks that Bazel 4 reads). An output that does not
// exist is left out, as the spec says. Nothing is uploaded here: the caller
// stores `files` and `messages` once the whole result is known.
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Command,
  type Directory,
  DirectoryCodec,
  type OutputDirectory,
  type OutputFile,
  type OutputSymlink,
  TreeCodec,
} from '../proto/reapi.js';
import { type Digest, digestKey, digestOf } from '../util/digest.js';
import { internal } from '../util/errors.js';
import { mapConcurrent } from '../util/concurrency.js';
import { compareNames } from './action-paths.js';
import { type FileBlob, hashFile } from './file-upload.js';

export interface InlineRequest {
  /** Output file paths whose contents the client wants in the result. */
  readonly paths: ReadonlySet<string>;
  /** Largest file inlined. */
  readonly maxFileBytes: number;
  /** Total bytes inlined across files. */
  readonly budgetBytes: number;
}

export interface CollectedOutputs {
  readonly outputFiles: OutputFile[];
  readonly outputDirectories: OutputDirectory[];
  readonly outputSymlinks: OutputSymlink[];
  readonly outputFileSymlinks: OutputSymlink[];
  readonly outputDirectorySymlinks: OutputSymlink[];
  /** Files to store in the CAS. */
  readonly files: FileBlob[];
  /** Tree messages to store in the CAS. */
  readonly messages: { digest: Digest; bytes: Buffer }[];
}

type Expected = 'file' | 'directory' | 'any';

const HASH_CONCURRENCY = 8;

export async function collectOutputs(workingDir: string, command: Command, inline: InlineRequest): Promise<CollectedOutputs> {
  const out: CollectedOutputs = {
    outputFiles: [],
    outputDirectories: [],
    outputSymlinks: [],
    outputFileSymlinks: [],
    outputDirectorySymlinks: [],
    files: [],
    messages: [],
  };
  const wanted: { path: string; expected: Expected }[] =
    command.outputPaths.length > 0
      ? command.outputPaths.map((path) => ({ path, expected: 'any' as const }))
      : [
          ...command.outputFiles.map((path) => ({ path, expected: 'file' as const })),
          ...command.outputDirectories.map((path) => ({ path, expected: 'directory' as const })),
        ];
  let inlineLeft = inline.budgetBytes;
  await mapConcurrent(wanted, HASH_CONCURRENCY, async ({ path, expected }) => {
    const abs = join(workingDir, path);
    const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
    if (st === undefined) return;
    if (st.isSymbolicLink()) {
      const link = { path, target: await readlink(abs), nodeProperties: null };
      out.outputSymlinks.push(link);
      const toDirectory = expected === 'directory' || (expected === 'any' && (await stat(abs).catch(() => undefined))?.isDirectory() === true);
      (toDirectory ? out.outputDirectorySymlinks : out.outputFileSymlinks).push(link);
    } else if (st.isFile()) {
      const digest = await hashFile(abs);
      let contents = Buffer.alloc(0);
      if (inline.paths.has(path) && digest.sizeBytes <= inline.maxFileBytes && digest.sizeBytes <= inlineLeft) {
        inlineLeft -= digest.sizeBytes;
        contents = await readFile(abs);
      }
      out.files.push({ digest, path: abs });
      out.outputFiles.push({ path, digest, isExecutable: (st.mode & 0o111) !== 0, contents, nodeProperties: null });
    } else if (st.isDirectory()) {
      const root = await readTree(abs, path, out.files);
      const tree = treeOf(root);
      const bytes = TreeCodec.encode(tree);
      const treeDigest = digestOf(bytes);
      out.messages.push({ digest: treeDigest, bytes });
      out.outputDirectories.push({ path, treeDigest, isTopologicallySorted: true, rootDirectoryDigest: null });
    } else {
      throw internal(`output ${path} is neither a file, a directory nor a symlink`);
    }
  });
  // Deterministic order, whatever order the hashing finished in.
  for (const list of [out.outputFiles, out.outputDirectories, out.outputSymlinks, out.outputFileSymlinks, out.outputDirectorySymlinks]) {
    list.sort((a, b) => compareNames(a.path, b.path));
  }
  return out;
}

interface DirectoryNode {
  readonly directory: Directory;
  readonly digest: Digest;
  readonly children: DirectoryNode[];
}

/** Reads a directory bottom-up into Directory messages; its files join `files`. */
async function readTree(abs: string, path: string, files: FileBlob[]): Promise<DirectoryNode> {
  const entries = await readdir(abs, { withFileTypes: true });
  entries.sort((a, b) => compareNames(a.name, b.name));
  const directory: Directory = { files: [], directories: [], symlinks: [], nodeProperties: null };
  const children: { name: string; node: DirectoryNode }[] = [];
  await mapConcurrent(entries, HASH_CONCURRENCY, async (entry) => {
    const entryAbs = join(abs, entry.name);
    if (entry.isSymbolicLink()) {
      directory.symlinks.push({ name: entry.name, target: await readlink(entryAbs), nodeProperties: null });
    } else if (entry.isFile()) {
      const st = await lstat(entryAbs);
      const digest = await hashFile(entryAbs);
      files.push({ digest, path: entryAbs });
      directory.files.push({ name: entry.name, digest, isExecutable: (st.mode & 0o111) !== 0, nodeProperties: null });
    } else if (entry.isDirectory()) {
      const node = await readTree(entryAbs, `${path}/${entry.name}`, files);
      children.push({ name: entry.name, node });
      directory.directories.push({ name: entry.name, digest: node.digest });
    } else {
      throw internal(`output ${path}/${entry.name} is neither a file, a directory nor a symlink`);
    }
  });
  // Entries finished in any order: put each list back in name order.
  directory.files.sort((a, b) => compareNames(a.name, b.name));
  directory.directories.sort((a, b) => compareNames(a.name, b.name));
  directory.symlinks.sort((a, b) => compareNames(a.name, b.name));
  children.sort((a, b) => compareNames(a.name, b.name));
  return { directory, digest: digestOf(DirectoryCodec.encode(directory)), children: children.map((c) => c.node) };
}

/** The Tree: the root, then every other Directory once, breadth first (parents before children). */
function treeOf(root: DirectoryNode): { root: Directory; children: Directory[] } {
  const children: Directory[] = [];
  const seen = new Set<string>();
  const queue = [...root.children];
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    const key = digestKey(node.digest);
    if (seen.has(key)) continue;
    seen.add(key);
    children.push(node.directory);
    queue.push(...node.children);
  }
  return { root: root.directory, children };
}
