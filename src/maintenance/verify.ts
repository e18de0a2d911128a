// verify: reads every value of every selected leaf (fast = local memory and
// filesystem leaves, slow = remote S3 leaves) through the compression layers
// that leaf sits under, and checks it means what its key says:
//
// - CAS values and dedup chunks must hash (SHA-256, streaming) to their key;
// - action cache values must decode as an ActionResult;
// - dedup index entries must decode and name chunks the content store holds.
//
// A value listed by the leaf (its index, the catalog, the bucket listing) that
// cannot be read is missing. Dedup blobs the catalog knows but whose index
// entry no index leaf holds are missing too.
//
// --repair: a bad copy is replaced by a good one from the other side of a
// fast_slow above it (the good copy is checked again while it is copied; a
// mismatch aborts the write before anything is committed). Without a good
// copy, a local copy is evicted and the catalog forgets it (dedup blob rows,
// chunks and the blobs using them, owed uploads), so the client uploads it
// again. A remote copy is never deleted: the bucket is shared.
import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import type { NcacheConfig } from '../config/types.js';
import { ActionResultCodec } from '../proto/reapi.js';
import { compressionView } from '../stores/compression-store.js';
import { decodeIndexEntry } from '../stores/dedup/index-entry.js';
import type { StoreManager } from '../stores/factory.js';
import { type ByteStream, type StoreDriver, putBuffer, readBuffer } from '../stores/store.js';
import type { Clock } from '../util/clock.js';
import { mapConcurrent } from '../util/concurrency.js';
import { type Digest, digestKey, formatDigest } from '../util/digest.js';
import { errorMessage, invalidArgument, isNotFound } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { quietView } from './quiet-views.js';
import { dedupCatalog } from './store-access.js';
import { type Leaf, type ValueRole, classifyLeaves, forgetAbove, otherSideLeaves } from './tiers.js';

export type VerifyTier = 'fast' | 'slow' | 'all';

const CHECK_CONCURRENCY = 4;
/** Values read whole to decode them (AC entries, dedup index entries) are small; anything bigger is damage. */
const MAX_DECODED_VALUE_BYTES = 64 << 20;
const HAS_BATCH = 500;

export interface VerifyProgress {
  phase: string;
  done: number;
  total?: number;
  bytes?: number;
  totalBytes?: number;
}

export interface VerifyOptions {
  tier?: VerifyTier;
  repair?: boolean;
  onProgress?(p: VerifyProgress): void;
  signal?: AbortSignal;
}

export interface VerifyDeps {
  readonly config: NcacheConfig;
  readonly stores: StoreManager;
  readonly catalog: Catalog;
  readonly clock: Clock;
  readonly logger?: Logger;
}

export type Repair = 'restored' | 'evicted' | 'forgotten' | 'failed' | 'none';

export interface VerifyProblem {
  /** The leaf's id ("CAS.fast_slow.fast"), or the dedup store's id for catalog rows. */
  tier: string;
  kind: string;
  location: 'local' | 'remote' | 'catalog';
  role: ValueRole;
  /** "<hash>/<size>" */
  digest: string;
  problem: 'corrupt' | 'missing';
  detail: string;
  /** Set with --repair. */
  repair?: Repair;
  /** The leaf a good copy came from (repair "restored"). */
  repairedFrom?: string;
  repairError?: string;
}

export interface VerifyTierReport {
  id: string;
  kind: string;
  location: 'local' | 'remote';
  role: ValueRole;
  checked: number;
  bytes: number;
  corrupt: number;
  missing: number;
  repaired: number;
}

export interface VerifyReport {
  tier: VerifyTier;
  repair: boolean;
  checked: { count: number; bytes: number };
  tiers: VerifyTierReport[];
  problems: VerifyProblem[];
  /** Problems found / repaired / left (verify exits 1 when unrepaired > 0). */
  found: number;
  repaired: number;
  unrepaired: number;
  ok: boolean;
}

type Check = { ok: true; bytes: number } | { ok: false; problem: 'corrupt' | 'missing'; detail: string };

export async function runVerify(deps: VerifyDeps, opts: VerifyOptions = {}): Promise<VerifyReport> {
  return new VerifyRun(deps, opts).run();
}

class VerifyRun {
  private readonly logger: Logger;
  private readonly leaves: Leaf[];
  private readonly tier: VerifyTier;
  private readonly repair: boolean;
  private readonly problems: VerifyProblem[] = [];
  private readonly views = new Map<Leaf, StoreDriver>();

  constructor(
    private readonly deps: VerifyDeps,
    private readonly opts: VerifyOptions,
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.leaves = classifyLeaves(deps.config, deps.stores);
    this.tier = opts.tier ?? 'all';
    this.repair = opts.repair === true;
  }

  private selected(leaf: Leaf): boolean {
    if (this.tier === 'all') return true;
    return this.tier === 'fast' ? leaf.location === 'local' : leaf.location === 'remote';
  }

  async run(): Promise<VerifyReport> {
    const tiers: VerifyTierReport[] = [];
    const chosen = this.leaves.filter((l) => this.selected(l) && l.store.entries !== undefined);
    for (const leaf of chosen) tiers.push(await this.verifyLeaf(leaf));
    if (this.tier !== 'slow') await this.checkDedupCatalog();

    const repaired = this.problems.filter((p) => p.repair === 'restored' || p.repair === 'evicted' || p.repair === 'forgotten').length;
    const found = this.problems.length;
    // Checks run concurrently: a stable order for people and diffs.
    this.problems.sort((a, b) => a.tier.localeCompare(b.tier) || a.digest.localeCompare(b.digest));
    return {
      tier: this.tier,
      repair: this.repair,
      checked: {
        count: tiers.reduce((n, t) => n + t.checked, 0),
        bytes: tiers.reduce((n, t) => n + t.bytes, 0),
      },
      tiers,
      problems: this.problems,
      found,
      repaired,
      unrepaired: found - repaired,
      ok: found === repaired,
    };
  }

  // ---------------------------------------------------------------------------
  // One leaf

  private async verifyLeaf(leaf: Leaf): Promise<VerifyTierReport> {
    const report: VerifyTierReport = {
      id: leaf.id,
      kind: leaf.kind,
      location: leaf.location,
      role: leaf.role,
      checked: 0,
      bytes: 0,
      corrupt: 0,
      missing: 0,
      repaired: 0,
    };
    const keys: { key: Digest; size: number }[] = [];
    for await (const entry of leaf.store.entries!()) {
      keys.push({ key: entry.key, size: entry.storedSize ?? entry.size });
      if (keys.length % 1000 === 0) this.progress({ phase: `listing ${leaf.id}`, done: keys.length });
    }
    const totalBytes = keys.reduce((n, k) => n + k.size, 0);
    let done = 0;
    let bytesDone = 0;
    const phase = `verifying ${leaf.id}`;
    this.progress({ phase, done, total: keys.length, bytes: 0, totalBytes });
    await mapConcurrent(keys, CHECK_CONCURRENCY, async ({ key, size }) => {
      this.opts.signal?.throwIfAborted();
      const result = await this.check(leaf, key);
      report.checked += 1;
      if (result.ok) {
        report.bytes += result.bytes;
      } else {
        if (result.problem === 'corrupt') report.corrupt += 1;
        else report.missing += 1;
        const problem: VerifyProblem = {
          tier: leaf.id,
          kind: leaf.kind,
          location: leaf.location,
          role: leaf.role,
          digest: formatDigest(key),
          problem: result.problem,
          detail: result.detail,
        };
        if (this.repair) {
          await this.repairCopy(leaf, key, problem);
          if (problem.repair === 'restored' || problem.repair === 'evicted') report.repaired += 1;
        }
        this.problems.push(problem);
      }
      done += 1;
      bytesDone += size;
      this.progress({ phase, done, total: keys.length, bytes: bytesDone, totalBytes });
    });
    return report;
  }

  private progress(p: VerifyProgress): void {
    this.opts.onProgress?.(p);
  }

  /** The leaf as the layers above see its values: wrapped in the compression stores between them. */
  private viewOf(leaf: Leaf): StoreDriver {
    let view = this.views.get(leaf);
    if (view === undefined) {
      view = quietView(leaf.store);
      for (const layer of [...leaf.compression].reverse()) view = compressionView(layer.spec, view, { logger: this.logger });
      this.views.set(leaf, view);
    }
    return view;
  }

  /** Reads one value of one leaf and checks it. */
  private async check(leaf: Leaf, key: Digest): Promise<Check> {
    const view = this.viewOf(leaf);
    try {
      switch (leaf.role) {
        case 'cas':
        case 'dedup_chunk':
          return await checkHash(await view.getPart(key, 0), key);
        case 'ac': {
          const data = await readBuffer(view, key, MAX_DECODED_VALUE_BYTES);
          return checkActionResult(data);
        }
        case 'dedup_index':
          return await this.checkIndexEntry(leaf, key, await readBuffer(view, key, MAX_DECODED_VALUE_BYTES));
        default: {
          // Values of unknown meaning: readable to the end is all we can ask.
          let bytes = 0;
          for await (const chunk of await view.getPart(key, 0)) bytes += chunk.length;
          return { ok: true, bytes };
        }
      }
    } catch (err) {
      if (isNotFound(err)) return { ok: false, problem: 'missing', detail: `listed but cannot be read: ${errorMessage(err)}` };
      return { ok: false, problem: 'corrupt', detail: errorMessage(err) };
    }
  }

  private async checkIndexEntry(leaf: Leaf, key: Digest, data: Buffer): Promise<Check> {
    let chunks: Digest[];
    try {
      chunks = decodeIndexEntry(key, data);
    } catch (err) {
      return { ok: false, problem: 'corrupt', detail: errorMessage(err) };
    }
    const content = leaf.dedup?.content;
    if (content !== undefined) {
      const missing = await missingKeys(content, chunks);
      if (missing.length > 0) {
        return {
          ok: false,
          problem: 'corrupt',
          detail: `names ${missing.length} chunk(s) the content store does not hold, e.g. ${formatDigest(missing[0]!)}`,
        };
      }
    }
    return { ok: true, bytes: data.length };
  }

  // ---------------------------------------------------------------------------
  // Repair

  private async repairCopy(leaf: Leaf, key: Digest, problem: VerifyProblem): Promise<void> {
    try {
      const source = await this.restore(leaf, key);
      if (source !== undefined) {
        problem.repair = 'restored';
        problem.repairedFrom = source.id;
        return;
      }
      if (leaf.location === 'remote') {
        problem.repair = 'none';
        problem.repairError =
          'no good copy in another tier, and gc/verify never delete from a shared bucket; ' +
          'delete the object by hand or upload a good copy';
        return;
      }
      if (problem.problem === 'missing') await dropIfStillMissing(leaf.store, key);
      else await leaf.store.remove?.(key);
      this.forgetKnowledge(leaf, key);
      problem.repair = 'evicted';
    } catch (err) {
      problem.repair = 'failed';
      problem.repairError = errorMessage(err);
    }
  }

  /** Copies a good value from the other side of a fast_slow above the leaf; returns the source leaf. */
  private async restore(leaf: Leaf, key: Digest): Promise<Leaf | undefined> {
    for (const source of otherSideLeaves(leaf, this.leaves)) {
      const from = this.viewOf(source);
      const to = this.viewOf(leaf);
      const [size] = await from.has([key]);
      if (size === undefined) continue;
      try {
        if (leaf.role === 'cas' || leaf.role === 'dedup_chunk') {
          // Hashed on the way: a bad source fails the stream before its end, so nothing is committed.
          await to.update(key, verified(await from.getPart(key, 0), key), key.sizeBytes);
        } else {
          const data = await readBuffer(from, key, MAX_DECODED_VALUE_BYTES);
          const good =
            leaf.role === 'ac'
              ? checkActionResult(data)
              : leaf.role === 'dedup_index'
                ? await this.checkIndexEntry(leaf, key, data)
                : ({ ok: true, bytes: data.length } as const);
          if (!good.ok) continue;
          await putBuffer(to, key, data);
        }
      } catch (err) {
        this.logger.warn(`verify: could not restore ${formatDigest(key)} in ${leaf.id} from ${source.id}: ${errorMessage(err)}`);
        continue;
      }
      const after = await this.check(leaf, key);
      if (after.ok) return source;
    }
    return undefined;
  }

  /** After evicting a bad local copy: what the catalog says about it must not bring it back. */
  private forgetKnowledge(leaf: Leaf, key: Digest): void {
    // The copy was removed from the leaf directly: no layer above may keep answering "present".
    forgetAbove(leaf, [key]);
    const catalog = this.deps.catalog;
    if (catalog.isClosed) return;
    // Owed uploads of bad bytes must not reach the slow tier.
    for (const place of leaf.fastSlow) if (place.side === 'fast') catalog.journal.drop(place.storeId, key);
    const dedup = dedupCatalog(catalog);
    if (dedup === undefined || leaf.dedup === undefined) return;
    if (leaf.role === 'dedup_index') dedup.forgetBlob(leaf.dedup.storeId, key);
    // Blobs made of a lost chunk read as missing and are uploaded again, chunk included.
    if (leaf.role === 'dedup_chunk') dedup.loseChunk(leaf.dedup.storeId, key);
  }

  // ---------------------------------------------------------------------------
  // Dedup catalog rows without an index entry

  private async checkDedupCatalog(): Promise<void> {
    const dedup = dedupCatalog(this.deps.catalog);
    if (dedup === undefined) return;
    const seen = new Set<string>();
    for (const leaf of this.leaves) {
      if (leaf.role !== 'dedup_index' || leaf.dedup === undefined || seen.has(leaf.dedup.storeId)) continue;
      const { storeId, index } = leaf.dedup;
      seen.add(storeId);
      const blobs = [...dedup.blobs(storeId)].map((b) => b.digest);
      let done = 0;
      for (let i = 0; i < blobs.length; i += HAS_BATCH) {
        const batch = blobs.slice(i, i + HAS_BATCH);
        for (const blob of await missingKeys(index, batch)) {
          const problem: VerifyProblem = {
            tier: storeId,
            kind: 'dedup',
            location: 'catalog',
            role: 'dedup_index',
            digest: formatDigest(blob),
            problem: 'missing',
            detail: 'the catalog lists this blob but no index store holds its index entry',
          };
          if (this.repair) {
            dedup.forgetBlob(storeId, blob);
            problem.repair = 'forgotten';
          }
          this.problems.push(problem);
        }
        done += batch.length;
        this.progress({ phase: `checking catalog of ${storeId}`, done, total: blobs.length });
      }
    }
  }
}

/**
 * Lets the store drop its entry for a file that is gone: its own read does
 * that, and unlike remove() never deletes a file an upload committed since.
 */
async function dropIfStillMissing(store: StoreDriver, key: Digest): Promise<void> {
  try {
    for await (const _ of await store.getPart(key, 0, 0)) {
      // a zero-length read: nothing arrives
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

async function missingKeys(store: StoreDriver, keys: readonly Digest[]): Promise<Digest[]> {
  const missing: Digest[] = [];
  for (let i = 0; i < keys.length; i += HAS_BATCH) {
    const batch = keys.slice(i, i + HAS_BATCH);
    const sizes = await store.has(batch);
    batch.forEach((k, j) => {
      if (sizes[j] === undefined) missing.push(k);
    });
  }
  return missing;
}

async function checkHash(stream: ByteStream, key: Digest): Promise<Check> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  if (bytes !== key.sizeBytes) {
    return { ok: false, problem: 'corrupt', detail: `holds ${bytes} bytes, the key says ${key.sizeBytes}` };
  }
  const actual = hash.digest('hex');
  if (actual !== key.hash) return { ok: false, problem: 'corrupt', detail: `content hashes to ${actual}` };
  return { ok: true, bytes };
}

function checkActionResult(data: Buffer): Check {
  try {
    ActionResultCodec.decode(data);
    return { ok: true, bytes: data.length };
  } catch (err) {
    return { ok: false, problem: 'corrupt', detail: `does not decode as an ActionResult: ${errorMessage(err)}` };
  }
}

/** Passes `source` through, failing before its end unless it hashes to `key`. */
async function* verified(source: ByteStream, key: Digest): ByteStream {
  const hash = createHash('sha256');
  let bytes = 0;
  let held: Buffer | undefined;
  for await (const chunk of source) {
    hash.update(chunk);
    bytes += chunk.length;
    // Hold back one chunk, so the last one is only given once the whole value checked out.
    if (held !== undefined) yield held;
    held = chunk;
  }
  if (bytes !== key.sizeBytes || hash.digest('hex') !== key.hash) {
    throw invalidArgument(`the copy of ${digestKey(key)} being restored does not match its digest`);
  }
  if (held !== undefined) yield held;
}
