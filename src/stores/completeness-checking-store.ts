// An action-cache wrapper that hides results whose outputs are gone from the
// CAS. Bazel (especially with --remote_download_minimal) trusts an AC hit to
// mean every output can be downloaded; serving a result that points at an
// evicted blob breaks the build instead of re-running the action.
//
// A result counts as complete when its output files, stdout/stderr blobs,
// output directory Tree blobs and every file inside those trees are in the
// CAS. Checks are batched: one `has` for the direct references, one read per
// Tree, one `has` for the files in the trees.
import { ActionResultCodec, type ActionResult, TreeCodec } from '../proto/reapi.js';
import { type Digest, digestKey, formatDigest, isEmptyDigest } from '../util/digest.js';
import { errorMessage, isNotFound, notFound } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { StoreContext } from './store-context.js';
import {
  type ByteStream,
  type StoreDriver,
  type StoreEntry,
  bufferStream,
  checkRange,
  readBuffer,
  readBufferIfPresent,
} from './store.js';
import type { CompletenessCheckingStats } from './store-stats.js';

/** AC values and Tree blobs are metadata: anything bigger is not what we expect. */
const MAX_RESULT_BYTES = 32 * 1024 * 1024;
const MAX_TREE_BYTES = 64 * 1024 * 1024;

export class CompletenessCheckingStore implements StoreDriver {
  readonly kind = 'completeness_checking';
  private readonly logger: Logger;
  private checked = 0;
  private hidden = 0;

  constructor(
    private readonly backend: StoreDriver,
    private readonly cas: StoreDriver,
    ctx: Pick<StoreContext, 'logger'>,
  ) {
    this.logger = ctx.logger;
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const sizes = await this.backend.has(keys);
    return Promise.all(
      keys.map(async (key, i) => {
        const size = sizes[i];
        if (size === undefined) return undefined;
        const value = await readBufferIfPresent(this.backend, key, MAX_RESULT_BYTES);
        if (value === undefined) return undefined;
        return (await this.missingOutput(key, value)) === undefined ? size : undefined;
      }),
    );
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.backend.update(key, source, size);
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    // AC values are small: read once, check, serve the requested range from memory.
    const value = await readBuffer(this.backend, key, MAX_RESULT_BYTES);
    const missing = await this.missingOutput(key, value);
    if (missing !== undefined) {
      throw notFound(`action result ${formatDigest(key)} is incomplete: ${missing} is missing from the CAS`);
    }
    const { start, end } = checkRange(`completeness_checking read of ${formatDigest(key)}`, value.length, offset, length);
    return bufferStream(value.subarray(start, end));
  }

  remove(key: Digest): Promise<boolean> {
    return this.backend.remove ? this.backend.remove(key) : Promise.resolve(false);
  }

  entries(): AsyncIterable<StoreEntry> {
    if (!this.backend.entries) return (async function* () {})();
    return this.backend.entries();
  }

  stats(): CompletenessCheckingStats {
    return { kind: this.kind, checked: this.checked, hidden: this.hidden };
  }

  children(): readonly StoreDriver[] {
    return [this.backend, this.cas];
  }

  /**
   * Describes the first missing output of a stored result ("output file
   * a/b.o (digest)"), or undefined when everything is present. A value that
   * does not decode as an ActionResult is reported as missing too: serving
   * it would not help the client.
   */
  private async missingOutput(key: Digest, value: Buffer): Promise<string | undefined> {
    this.checked++;
    const missing = await this.findMissing(key, value);
    if (missing !== undefined) {
      this.hidden++;
      this.logger.debug(`completeness_checking: hiding action result ${formatDigest(key)}: ${missing} is missing`);
    }
    return missing;
  }

  private async findMissing(key: Digest, value: Buffer): Promise<string | undefined> {
    let result: ActionResult;
    try {
      result = ActionResultCodec.decode(value);
    } catch (err) {
      return `a decodable ActionResult (${errorMessage(err)})`;
    }

    // Round 1: everything the result names directly.
    const direct: { digest: Digest; what: string }[] = [];
    for (const f of result.outputFiles) {
      if (f.digest) direct.push({ digest: f.digest, what: `output file ${f.path}` });
    }
    if (result.stdoutDigest) direct.push({ digest: result.stdoutDigest, what: 'stdout' });
    if (result.stderrDigest) direct.push({ digest: result.stderrDigest, what: 'stderr' });
    const trees: { digest: Digest; path: string }[] = [];
    for (const d of result.outputDirectories) {
      if (d.treeDigest) {
        direct.push({ digest: d.treeDigest, what: `output directory ${d.path} (its Tree)` });
        trees.push({ digest: d.treeDigest, path: d.path });
      }
    }
    const first = await this.firstMissing(direct);
    if (first !== undefined) return first;

    // Round 2: the files inside each output directory's Tree.
    if (trees.length === 0) return undefined;
    const inTrees: { digest: Digest; what: string }[] = [];
    for (const tree of trees) {
      if (isEmptyDigest(tree.digest)) continue;
      let bytes: Buffer | undefined;
      try {
        bytes = await readBufferIfPresent(this.cas, tree.digest, MAX_TREE_BYTES);
      } catch (err) {
        if (isNotFound(err)) bytes = undefined;
        else throw err;
      }
      if (bytes === undefined) return `output directory ${tree.path} (its Tree)`;
      let decoded;
      try {
        decoded = TreeCodec.decode(bytes);
      } catch (err) {
        return `a decodable Tree for output directory ${tree.path} (${errorMessage(err)})`;
      }
      for (const dir of [decoded.root, ...decoded.children]) {
        for (const file of dir?.files ?? []) {
          if (file.digest) inTrees.push({ digest: file.digest, what: `file ${file.name} in output directory ${tree.path}` });
        }
      }
    }
    return this.firstMissing(inTrees);
  }

  /** One batched `has` over distinct non-empty digests; the first missing one's description. */
  private async firstMissing(refs: { digest: Digest; what: string }[]): Promise<string | undefined> {
    const unique = new Map<string, { digest: Digest; what: string }>();
    for (const ref of refs) {
      // The empty blob is always present, stored or not.
      if (!isEmptyDigest(ref.digest)) unique.set(digestKey(ref.digest), ref);
    }
    if (unique.size === 0) return undefined;
    const list = [...unique.values()];
    const sizes = await this.cas.has(list.map((r) => r.digest));
    const index = sizes.findIndex((s) => s === undefined);
    return index < 0 ? undefined : `${list[index]!.what} (${formatDigest(list[index]!.digest)})`;
  }
}
