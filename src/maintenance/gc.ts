// Garbage collection over the daemon's LOCAL tiers (memory, filesystem):
//
// 1. catalog rows whose file vanished are dropped (filesystem index);
// 2. entries idle longer than --older-than are evicted, then the least
//    recently used ones (merged across all local leaves) until the local bytes
//    are at or below --target-size;
// 3. orphaned dedup chunks (no blob references them, older than a grace
//    period) are removed from local leaves;
// 4. stray files (temp files of no upload in progress, unindexed files) are
//    removed from filesystem leaves;
// 5. the catalog is compacted.
//
// Safety, checked again right before each removal: nothing is ever deleted
// from a remote tier (an S3 bucket is shared with teammates); a key an
// in-flight request uses (pins, or a temp file being written) stays; a key the
// upload journal still owes a slow tier stays in the fast one; a dedup chunk
// is evicted by age or LRU only when the slow side of a fast_slow above it
// holds it too (otherwise only as an orphan, after the grace period).
// Evicting a dedup index entry from its only copy forgets the blob in the
// catalog, which turns chunks only it used into orphans.
// gc removes from leaves directly, below any existence cache: after each
// removal the stores above the leaf forget the key (tiers.ts forgetAbove).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Catalog } from '../catalog/catalog.js';
import type { NcacheConfig } from '../config/types.js';
import type { StoreManager } from '../stores/factory.js';
import type { Clock } from '../util/clock.js';
import { mapConcurrent } from '../util/concurrency.js';
import { type Digest, digestKey } from '../util/digest.js';
import { errorMessage, isNotFound } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import type { PinRegistry } from './pins.js';
import { quietView } from './quiet-views.js';
import { type DedupCatalog, dedupCatalog, isActiveTemp, keysBeingWritten } from './store-access.js';
import { type Leaf, classifyLeaves, forgetAbove } from './tiers.js';

/** Orphaned chunks younger than this stay: an upload in progress counts its chunks only once it has them all. */
export const DEFAULT_ORPHAN_GRACE_MS = 10 * 60 * 1000;
const ORPHAN_BATCH = 10_000;
const STAT_CONCURRENCY = 32;

export interface GcProgress {
  phase: string;
  done: number;
  total?: number;
  bytes?: number;
  totalBytes?: number;
}

export interface GcOptions {
  /** Evict by LRU until the local tiers hold at most this many bytes. */
  targetBytes?: number;
  /** Evict everything not accessed for this long. */
  olderThanMs?: number;
  /** Report what would be freed without changing anything. */
  dryRun?: boolean;
  orphanGraceMs?: number;
  onProgress?(p: GcProgress): void;
  signal?: AbortSignal;
}

export interface GcDeps {
  readonly config: NcacheConfig;
  readonly stores: StoreManager;
  readonly catalog: Catalog;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Keys in use by requests in flight. */
  readonly pins?: PinRegistry;
}

export interface Freed {
  count: number;
  bytes: number;
}

export interface GcTierReport {
  /** The leaf's catalog id, e.g. "CAS.fast_slow.fast". */
  id: string;
  kind: string;
  bytesBefore: number;
  bytesAfter: number;
  evicted: Freed;
  orphanChunks: Freed;
  strayFiles: Freed;
  /** Index rows dropped because their file was gone. */
  vanishedRows: number;
}

export interface GcReport {
  dryRun: boolean;
  targetBytes: number | null;
  olderThanSeconds: number | null;
  localBytesBefore: number;
  localBytesAfter: number;
  /** Whether the local bytes are at or below the target (null without a target). */
  targetReached: boolean | null;
  freed: Freed;
  tiers: GcTierReport[];
  /** Remote tiers (never touched by gc). */
  remoteTiers: string[];
  /** Candidates kept, by reason. */
  kept: { pinned: number; owed: number; onlyCopyChunk: number };
  /** Dedup blobs forgotten because their only index entry was evicted. */
  forgottenBlobs: number;
  catalog: { bytesBefore: number; bytesAfter: number; error?: string };
}

interface Candidate {
  readonly leaf: Leaf;
  readonly key: Digest;
  readonly bytes: number;
  readonly lastAccessMs: number;
}

type KeepReason = 'pinned' | 'owed' | 'onlyCopyChunk';

export async function runGc(deps: GcDeps, opts: GcOptions = {}): Promise<GcReport> {
  return new GcRun(deps, opts).run();
}

class GcRun {
  private readonly logger: Logger;
  private readonly dedup: DedupCatalog | undefined;
  private readonly leaves: Leaf[];
  private readonly local: Leaf[];
  private readonly tiers = new Map<Leaf, GcTierReport>();
  private readonly kept = { pinned: 0, owed: 0, onlyCopyChunk: 0 };
  private forgottenBlobs = 0;
  private readonly dryRun: boolean;
  /** Keys (digestKey) the dry run would remove per leaf, so later phases do not count them twice. */
  private readonly gone = new Map<Leaf, Set<string>>();

  constructor(
    private readonly deps: GcDeps,
    private readonly opts: GcOptions,
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.dedup = dedupCatalog(deps.catalog);
    this.dryRun = opts.dryRun === true;
    this.leaves = classifyLeaves(deps.config, deps.stores);
    this.local = this.leaves.filter((l) => l.location === 'local');
    for (const leaf of this.local) {
      this.tiers.set(leaf, {
        id: leaf.id,
        kind: leaf.kind,
        bytesBefore: 0,
        bytesAfter: 0,
        evicted: { count: 0, bytes: 0 },
        orphanChunks: { count: 0, bytes: 0 },
        strayFiles: { count: 0, bytes: 0 },
        vanishedRows: 0,
      });
      this.gone.set(leaf, new Set());
    }
  }

  private progress(p: GcProgress): void {
    this.opts.onProgress?.(p);
  }

  private checkAborted(): void {
    this.opts.signal?.throwIfAborted();
  }

  async run(): Promise<GcReport> {
    const now = this.deps.clock.now();
    await this.dropVanishedRows();
    const candidates = await this.collect();
    const localBytesBefore = candidates.reduce((sum, c) => sum + c.bytes, 0);
    for (const c of candidates) this.tiers.get(c.leaf)!.bytesBefore += c.bytes;

    const chosen = await this.choose(candidates, now);
    await this.evict(chosen);
    await this.removeOrphans(now);
    await this.removeStrays();
    const catalogReport = this.compact();

    const report = [...this.tiers.values()];
    const freed = { count: 0, bytes: 0 };
    for (const t of report) {
      for (const f of [t.evicted, t.orphanChunks, t.strayFiles]) {
        freed.count += f.count;
        freed.bytes += f.bytes;
      }
    }
    // Bytes left = what was listed minus what eviction and orphan removal took (strays were never listed).
    for (const t of report) t.bytesAfter = t.bytesBefore - t.evicted.bytes - t.orphanChunks.bytes;
    const localBytesAfter = report.reduce((sum, t) => sum + t.bytesAfter, 0);
    const target = this.opts.targetBytes;
    return {
      dryRun: this.dryRun,
      targetBytes: target ?? null,
      olderThanSeconds: this.opts.olderThanMs === undefined ? null : this.opts.olderThanMs / 1000,
      localBytesBefore,
      localBytesAfter,
      targetReached: target === undefined ? null : localBytesAfter <= target,
      freed,
      tiers: report,
      remoteTiers: this.leaves.filter((l) => l.location === 'remote').map((l) => l.id),
      kept: this.kept,
      forgottenBlobs: this.forgottenBlobs,
      catalog: catalogReport,
    };
  }

  // ---------------------------------------------------------------------------
  // 1. Index rows whose file is gone

  private async dropVanishedRows(): Promise<void> {
    for (const leaf of this.local) {
      const fs = leaf.store.localFiles?.();
      if (fs === undefined || leaf.store.entries === undefined) continue;
      const keys: Digest[] = [];
      // A value kept inline in the catalog has no file to lose.
      for await (const entry of leaf.store.entries()) if (!entry.inline) keys.push(entry.key);
      let done = 0;
      const vanished: Digest[] = [];
      await mapConcurrent(keys, STAT_CONCURRENCY, async (key) => {
        try {
          await stat(join(fs.contentPath, digestKey(key)));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') vanished.push(key);
        }
        done += 1;
        if (done % 1000 === 0) this.progress({ phase: 'checking index', done, total: keys.length });
      });
      this.checkAborted();
      const report = this.tiers.get(leaf)!;
      for (const key of vanished) {
        if (this.dryRun) {
          this.gone.get(leaf)!.add(digestKey(key));
          report.vanishedRows += 1;
          continue;
        }
        // The store's own read drops an entry whose file is gone, and only that
        // entry: one an upload committed since the stat is read, never deleted.
        try {
          for await (const _ of await leaf.store.getPart(key, 0, 0)) {
            // a zero-length read: nothing arrives
          }
        } catch (err) {
          if (isNotFound(err)) {
            report.vanishedRows += 1;
            forgetAbove(leaf, [key]);
          } else this.logger.warn(`gc: could not check ${digestKey(key)} in ${leaf.id}: ${errorMessage(err)}`);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------
  // 2. Eviction

  private async collect(): Promise<Candidate[]> {
    const out: Candidate[] = [];
    for (const leaf of this.local) {
      if (leaf.store.entries === undefined || leaf.store.remove === undefined) continue;
      const gone = this.gone.get(leaf)!;
      for await (const entry of leaf.store.entries()) {
        if (gone.has(digestKey(entry.key))) continue;
        out.push({ leaf, key: entry.key, bytes: entry.storedSize ?? entry.size, lastAccessMs: entry.lastAccessMs ?? 0 });
      }
      this.progress({ phase: 'listing', done: out.length });
    }
    return out;
  }

  /** Entries to evict: idle ones first, then least recently used until the target is met. */
  private async choose(candidates: Candidate[], now: number): Promise<Candidate[]> {
    const chosen: Candidate[] = [];
    const { olderThanMs, targetBytes } = this.opts;
    if (olderThanMs === undefined && targetBytes === undefined) return chosen;
    const byAge = [...candidates].sort((a, b) => a.lastAccessMs - b.lastAccessMs);
    let total = candidates.reduce((sum, c) => sum + c.bytes, 0);
    for (const c of byAge) {
      const idle = olderThanMs !== undefined && c.lastAccessMs < now - olderThanMs;
      const over = targetBytes !== undefined && total > targetBytes;
      // Sorted by age: nothing later is idle either, and the target is met.
      if (!idle && !over) break;
      const reason = await this.keepReason(c.leaf, c.key);
      if (reason !== undefined) {
        this.kept[reason] += 1;
        continue;
      }
      chosen.push(c);
      total -= c.bytes;
    }
    return chosen;
  }

  private async evict(chosen: Candidate[]): Promise<void> {
    const totalBytes = chosen.reduce((sum, c) => sum + c.bytes, 0);
    let done = 0;
    let bytes = 0;
    for (const c of chosen) {
      this.checkAborted();
      const report = this.tiers.get(c.leaf)!;
      if (this.dryRun) {
        this.gone.get(c.leaf)!.add(digestKey(c.key));
        report.evicted.count += 1;
        report.evicted.bytes += c.bytes;
      } else if (await this.removeIfFree(c.leaf, c.key)) {
        report.evicted.count += 1;
        report.evicted.bytes += c.bytes;
        await this.afterIndexEviction(c.leaf, c.key);
      }
      done += 1;
      bytes += c.bytes;
      this.progress({ phase: 'evicting', done, total: chosen.length, bytes, totalBytes });
    }
  }

  /**
   * Removes `key` from `leaf` unless something started needing it since it was
   * chosen. The last checks and remove() start in the same tick, so an upload
   * cannot slip in between (filesystem renames and unlinks of one name are
   * serialized, and an upload's temp file is active until its rename is done).
   */
  private async removeIfFree(leaf: Leaf, key: Digest): Promise<boolean> {
    if (this.isPinned(leaf, key) || this.isOwed(leaf, key)) return false;
    try {
      return (await leaf.store.remove?.(key)) ?? false;
    } catch (err) {
      this.logger.warn(`gc: could not remove ${digestKey(key)} from ${leaf.id}: ${errorMessage(err)}`);
      return false;
    } finally {
      // Even a failed remove may have taken the file: the layers above ask again rather than remember.
      forgetAbove(leaf, [key]);
    }
  }

  /** An evicted dedup index entry that was the only copy: forget the blob so its chunks can become orphans. */
  private async afterIndexEviction(leaf: Leaf, key: Digest): Promise<void> {
    if (leaf.role !== 'dedup_index' || leaf.dedup === undefined || this.dedup === undefined) return;
    if (await this.heldElsewhere(leaf, key)) return;
    if (this.dedup.forgetBlob(leaf.dedup.storeId, key)) this.forgottenBlobs += 1;
  }

  // ---------------------------------------------------------------------------
  // Safety checks

  private async keepReason(leaf: Leaf, key: Digest): Promise<KeepReason | undefined> {
    if (this.isPinned(leaf, key)) return 'pinned';
    if (this.isOwed(leaf, key)) return 'owed';
    // A chunk is evicted by age or LRU only where a slow tier keeps a copy. The
    // only copy of a referenced chunk must stay; an unreferenced one may be
    // about to be used by an upload in progress, and goes through the orphan
    // step, which waits out the catalog's grace period.
    if (leaf.role === 'dedup_chunk' && leaf.dedup !== undefined && !(await this.heldElsewhere(leaf, key))) {
      return 'onlyCopyChunk';
    }
    return undefined;
  }

  private isPinned(leaf: Leaf, key: Digest): boolean {
    if (keysBeingWritten(leaf.store).has(digestKey(key))) return true;
    const pins = this.deps.pins;
    if (pins === undefined) return false;
    if (pins.isPinned(key)) return true;
    // A chunk is in use while a blob made of it is being read or written.
    if (leaf.role === 'dedup_chunk' && leaf.dedup !== undefined && this.dedup !== undefined) {
      for (const blob of pins.keys()) {
        const chunks = this.dedup.chunksOf(leaf.dedup.storeId, blob);
        if (chunks?.some((c) => c.hash === key.hash && c.sizeBytes === key.sizeBytes)) return true;
      }
    }
    return false;
  }

  /** The upload journal still owes this key to the slow side of a fast_slow the leaf is the fast side of. */
  private isOwed(leaf: Leaf, key: Digest): boolean {
    if (this.deps.catalog.isClosed) return true;
    return leaf.fastSlow.some((place) => place.side === 'fast' && this.deps.catalog.journal.get(place.storeId, key) !== undefined);
  }

  /** Whether the slow side of a fast_slow above the leaf holds the key too (so this copy is not the only one). */
  private async heldElsewhere(leaf: Leaf, key: Digest): Promise<boolean> {
    for (const place of [...leaf.fastSlow].reverse()) {
      if (place.side !== 'fast') continue;
      try {
        const [size] = await place.other.has([key]);
        if (size !== undefined) return true;
      } catch (err) {
        // Cannot tell: treat this copy as the only one.
        this.logger.warn(`gc: could not ask ${place.storeId}'s slow tier about ${digestKey(key)}: ${errorMessage(err)}`);
      }
    }
    return false;
  }

  // ---------------------------------------------------------------------------
  // 3. Orphaned dedup chunks

  private async removeOrphans(now: number): Promise<void> {
    if (this.dedup === undefined) return;
    const grace = this.opts.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
    const byStore = new Map<string, Leaf[]>();
    for (const leaf of this.leaves) {
      if (leaf.role !== 'dedup_chunk' || leaf.dedup === undefined) continue;
      const list = byStore.get(leaf.dedup.storeId) ?? [];
      list.push(leaf);
      byStore.set(leaf.dedup.storeId, list);
    }
    for (const [storeId, leaves] of byStore) {
      const local = leaves.filter((l) => l.location === 'local');
      if (local.length === 0) continue;
      // Only where no remote tier holds chunks may the catalog forget them: a bucket keeps its copy.
      const localOnly = leaves.every((l) => l.location === 'local');
      const orphans = this.dedup.orphanChunks(storeId, now - grace, ORPHAN_BATCH);
      let done = 0;
      for (const chunk of orphans) {
        this.checkAborted();
        if (this.dryRun) {
          for (const leaf of local) {
            const [size] = await quietView(leaf.store).has([chunk]);
            if (size === undefined || this.gone.get(leaf)!.has(digestKey(chunk))) continue;
            this.tiers.get(leaf)!.orphanChunks.count += 1;
            this.tiers.get(leaf)!.orphanChunks.bytes += size;
          }
        } else if (localOnly ? this.dedup.dropChunk(storeId, chunk) : this.dedup.chunkRefs(storeId, chunk) === 0) {
          // The catalog forgot it first (or, with a bucket keeping its copy, still
          // has no reference to it): nothing can start relying on the local copies.
          for (const leaf of local) {
            const [size] = await quietView(leaf.store).has([chunk]);
            if (size === undefined) continue;
            if (await this.removeIfFree(leaf, chunk)) {
              this.tiers.get(leaf)!.orphanChunks.count += 1;
              this.tiers.get(leaf)!.orphanChunks.bytes += size;
            }
          }
        }
        done += 1;
        this.progress({ phase: 'orphan chunks', done, total: orphans.length });
      }
    }
  }

  // ---------------------------------------------------------------------------
  // 4. Stray files

  private async removeStrays(): Promise<void> {
    for (const leaf of this.local) {
      const fs = leaf.store.localFiles?.();
      if (fs === undefined) continue;
      const report = this.tiers.get(leaf)!;
      for await (const stray of fs.strayFiles()) {
        this.checkAborted();
        if (stray.kind === 'temp' && isActiveTemp(leaf.store, stray.path)) continue;
        if (!isInside(stray.path, [fs.contentPath, fs.tempPath])) continue;
        if (!this.dryRun) {
          try {
            // The store deletes it in the same per-name queue as uploads' renames,
            // so a file an upload committed since the listing stays.
            if (!(await fs.removeStray(stray))) continue;
          } catch (err) {
            this.logger.warn(`gc: could not remove stray file ${stray.path}: ${errorMessage(err)}`);
            continue;
          }
        }
        report.strayFiles.count += 1;
        report.strayFiles.bytes += stray.size;
        this.progress({ phase: 'stray files', done: report.strayFiles.count });
      }
    }
  }

  // ---------------------------------------------------------------------------
  // 5. Catalog

  private compact(): GcReport['catalog'] {
    const catalog = this.deps.catalog;
    if (catalog.isClosed) return { bytesBefore: 0, bytesAfter: 0, error: 'the catalog is closed' };
    if (this.dryRun) {
      const bytes = catalog.fileBytes();
      return { bytesBefore: bytes, bytesAfter: bytes };
    }
    this.progress({ phase: 'compacting catalog', done: 0 });
    try {
      return catalog.compact();
    } catch (err) {
      // A busy catalog is compacted next time; what was freed stays freed.
      const bytes = catalog.fileBytes();
      return { bytesBefore: bytes, bytesAfter: bytes, error: errorMessage(err) };
    }
  }
}

function isInside(path: string, dirs: string[]): boolean {
  return dirs.some((dir) => path.startsWith(dir.endsWith('/') ? dir : `${dir}/`));
}
