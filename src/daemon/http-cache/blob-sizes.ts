// Bazel's HTTP cache protocol names a CAS blob by its hash alone, while
// ncache's stores key blobs by hash and size. This remembers the size of
// every blob the listener has heard of: uploaded over HTTP, or named by an
// action result read or written over HTTP (and the files of the output trees
// those name, once a tree is read). Bazel always reads an action result
// before the outputs it names, so a warm build finds every size here even in
// a daemon that just started. Bounded: least recently used hashes go first.
import type { ActionResult, Tree } from '../../proto/reapi.js';
import type { Digest } from '../../util/digest.js';
import { EMPTY_SHA256 } from '../../util/digest.js';

/** About 15 MB at most (a 64-character key, a number and the map's entry). */
export const DEFAULT_MAX_BLOB_SIZES = 100_000;
/** Output trees are few beside files. */
const MAX_TREES = 10_000;

export class BlobSizes {
  private readonly sizes = new Map<string, number>();
  private readonly trees = new Set<string>();

  constructor(private readonly maxEntries = DEFAULT_MAX_BLOB_SIZES) {}

  /** The blob with this hash, if its size is known; the empty blob always is. */
  digest(hash: string): Digest | undefined {
    if (hash === EMPTY_SHA256) return { hash, sizeBytes: 0 };
    const size = this.sizes.get(hash);
    if (size === undefined) return undefined;
    // Map order is insertion order: re-inserting makes this the most recent.
    this.sizes.delete(hash);
    this.sizes.set(hash, size);
    return { hash, sizeBytes: size };
  }

  /** True if an action result named this blob as an output tree (a Tree message). */
  isTree(hash: string): boolean {
    return this.trees.has(hash);
  }

  learn(digest: Digest | null): void {
    if (digest === null || digest.hash === EMPTY_SHA256) return;
    this.sizes.delete(digest.hash);
    this.sizes.set(digest.hash, digest.sizeBytes);
    if (this.sizes.size > this.maxEntries) {
      const oldest = this.sizes.keys().next().value;
      if (oldest !== undefined) this.sizes.delete(oldest);
    }
  }

  /** Every blob an action result names: output files, stdout, stderr, and its output trees. */
  learnActionResult(result: ActionResult): void {
    for (const f of result.outputFiles) this.learn(f.digest);
    this.learn(result.stdoutDigest);
    this.learn(result.stderrDigest);
    for (const d of result.outputDirectories) {
      this.learn(d.treeDigest);
      if (d.treeDigest === null) continue;
      this.trees.add(d.treeDigest.hash);
      if (this.trees.size > MAX_TREES) {
        const oldest = this.trees.values().next().value;
        if (oldest !== undefined) this.trees.delete(oldest);
      }
    }
  }

  /** The files of every directory in an output tree (Bazel fetches them after the tree). */
  learnTree(tree: Tree): void {
    for (const dir of [tree.root, ...tree.children]) {
      for (const file of dir?.files ?? []) this.learn(file.digest);
    }
  }

  get size(): number {
    return this.sizes.size;
  }
}
