// Two tiers: reads try the fast store, then the slow one, filling the fast
// tier on the way; writes go to both at once. Directions say which tier may be
// written when: "both" (uploads and read fills), "update" (uploads only), "get"
// (read fills only), "read_only" (never written).
//
// Concurrent readers of one missing blob share a single slow read: the first
// streams it from the slow tier while the fast tier is filled from the same
// bytes; the others wait for that fill and then read the fast tier.
// The fill needs the value's size up front: a slow tier whose read tells it
// (getWithSize: the grpc stores) is read at once, its NOT_FOUND the answer,
// one round trip per miss; others are asked has() first unless the size is
// already known.
//
// Write-behind (slow_write_mode "async", write-behind.ts): an upload succeeds
// once the fast tier has it and the catalog's journal owes it to the slow tier;
// a background uploader delivers it.
//
// Existence: has() answers "present" only for what the fast tier holds or the
// slow tier itself confirms (slow-tier-checks.ts: one shared request per key,
// a positive answer reused for seconds, in memory). With a catalog, what the
// slow tier confirmed is also remembered there (slow_tier_presence), but only
// for what corrects itself: a fill takes the size from it instead of asking
// again (the GET that follows says NOT_FOUND if the object has gone, and the
// knowledge is forgotten), and `ls` shows it.
//
// Failures: an upload fails if either tier fails (the other tier's write is
// aborted when it has not committed yet). A tier that did commit keeps the
// value, which is harmless for content-addressed data and is overwritten by
// the client's retry for the action cache.
import type { Catalog } from '../catalog/catalog.js';
import type { StoreDirection } from '../config/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { Digest } from '../util/digest.js';
import { formatDigest, digestKey } from '../util/digest.js';
import { errorMessage, failedPrecondition, isNotFound, notFound } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type BlobFile, type ByteStream, type LinkableFiles, type StoreDriver, type StoreEntry, checkRange, exactSize } from './store.js';
import type { FastSlowCounters, FastSlowStats } from './store-stats.js';
import { SlowTierChecks } from './slow-tier-checks.js';
import { teeStream } from './tee.js';
import { WriteBehind, type WriteBehindOptions } from './write-behind.js';

export interface FastSlowOptions {
  fastDirection?: StoreDirection;
  slowDirection?: StoreDirection;
  /**
   * "sync" writes both tiers before an upload succeeds. "async" (write-behind
   * to the slow tier) acknowledges once the fast tier has it and the catalog's
   * journal owes it to the slow tier; it needs `catalog` and `storeId`.
   */
  slowWriteMode?: 'sync' | 'async';
  /** The daemon's catalog: upload journal (async mode) and slow-tier presence knowledge. */
  catalog?: Catalog;
  /** This store's stable id in the catalog, e.g. "CAS" or "CAS.verify.backend". */
  storeId?: string;
  /** Fingerprint of the slow tier's config; presence knowledge about another slow tier is dropped. */
  slowTier?: string;
  /** Presence knowledge older than this is not used by fills (default 24 h). */
  presenceMaxAgeMs?: number;
  /** How long a positive answer from the slow tier is reused by existence checks (default slow-tier-checks.ts). */
  slowCheckWindowMs?: number;
  writeBehind?: WriteBehindOptions;
  logger?: Logger;
  clock?: Clock;
}

const DEFAULT_PRESENCE_MAX_AGE_MS = 24 * 3600 * 1000;

const writtenOnUpdate = (d: StoreDirection) => d === 'both' || d === 'update';
const filledOnRead = (d: StoreDirection) => d === 'both' || d === 'get';

export class FastSlowStore implements StoreDriver {
  readonly kind = 'fast_slow';
  private readonly fastDirection: StoreDirection;
  private readonly slowDirection: StoreDirection;
  private readonly logger: Logger;
  /** Fills of the fast tier in progress, by key: the single flight other readers join. */
  private readonly fills = new Map<string, Promise<void>>();
  /** Keys removed while a fill was writing them: the fill's copy is removed once it lands. */
  private readonly removedWhileFilling = new Set<string>();
  private readonly counters: Omit<FastSlowCounters, keyof SlowTierChecks['counts']> = {
    fastHits: 0,
    slowHits: 0,
    misses: 0,
    fills: 0,
    fillFailures: 0,
    presenceHits: 0,
    staleCorrected: 0,
    slowHasFailures: 0,
  };
  private slowHasFailing = false;
  private readonly clock: Clock;
  /** Existence checks of the slow tier: the only source of a "present" for what the fast tier lacks. */
  private readonly slowChecks: SlowTierChecks;
  /** False after skipFlushOnClose(): close() does not wait to deliver owed uploads. */
  private flushOnClose = true;
  /** Present when the slow tier is written behind (async mode). */
  private readonly writeBehind: WriteBehind | undefined;
  /** Present when the fast tier keeps values as plain files (a local worker links from them). */
  readonly linkableFiles?: () => LinkableFiles;
  /** Present when a catalog keeps what the slow tier holds. */
  private readonly knowledge: { catalog: Catalog; storeId: string; slowTier: string; maxAgeMs: number } | undefined;

  constructor(
    private readonly fast: StoreDriver,
    private readonly slow: StoreDriver,
    options: FastSlowOptions = {},
  ) {
    this.fastDirection = options.fastDirection ?? 'both';
    this.slowDirection = options.slowDirection ?? 'both';
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.slowChecks = new SlowTierChecks(slow, this.clock, (entries) => this.recordPresence(entries), options.slowCheckWindowMs);
    const fastFiles = fast.linkableFiles?.();
    if (fastFiles) {
      const files = this.linkableOver(fastFiles);
      this.linkableFiles = () => files;
    }
    const { catalog, storeId } = options;
    if (catalog && storeId) {
      this.knowledge = {
        catalog,
        storeId,
        slowTier: options.slowTier ?? '',
        maxAgeMs: options.presenceMaxAgeMs ?? DEFAULT_PRESENCE_MAX_AGE_MS,
      };
    }
    if (options.slowWriteMode === 'async') {
      const what = `fast_slow ${storeId ?? ''}`.trimEnd();
      if (!catalog || !storeId) {
        throw failedPrecondition(
          `${what}: slow_write_mode "async" needs the daemon's catalog to journal uploads owed to the slow tier, ` +
            'and none was given (construct it with a catalog and a store id, or use "sync")',
        );
      }
      if (!writtenOnUpdate(this.fastDirection)) {
        throw failedPrecondition(
          `${what}: slow_write_mode "async" uploads from the fast tier, but fast_direction "${this.fastDirection}" ` +
            'does not write uploads to it; use fast_direction "both" or "update", or slow_write_mode "sync"',
        );
      }
      if (writtenOnUpdate(this.slowDirection)) {
        this.writeBehind = new WriteBehind(
          { storeId, slowTier: options.slowTier ?? '', catalog, fast, slow, logger: this.logger, clock: this.clock },
          options.writeBehind,
        );
      }
    }
  }

  async start(): Promise<void> {
    if (this.knowledge && !this.knowledge.catalog.isClosed) {
      const { catalog, storeId, slowTier } = this.knowledge;
      const dropped = catalog.presence.forgetOtherTiers(storeId, slowTier);
      if (dropped > 0) {
        this.logger.info(`fast_slow ${storeId}: the slow tier's config changed; forgot what the old one held (${dropped} blobs)`);
      }
    }
    this.writeBehind?.start();
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const sizes = await this.fast.has(keys);
    const missing: number[] = [];
    sizes.forEach((size, i) => {
      if (size === undefined) missing.push(i);
    });
    if (missing.length === 0) return sizes;
    let slowSizes: (number | undefined)[];
    try {
      // Never from the catalog's knowledge: the bucket may have lost the object since (see slow-tier-checks.ts).
      slowSizes = await this.slowChecks.sizes(missing.map((i) => keys[i]!));
      this.slowHasFailing = false;
    } catch (err) {
      // The slow tier is down: report these as missing. The client then
      // uploads them again, which succeeds against the fast tier (write-behind
      // journals them), rather than the whole existence check failing.
      this.counters.slowHasFailures += 1;
      if (!this.slowHasFailing) {
        this.slowHasFailing = true;
        this.logger.warn(
          `fast_slow: the slow tier could not answer an existence check; reporting ${missing.length} blobs as missing until it can: ${errorMessage(err)}`,
        );
      }
      return sizes;
    }
    missing.forEach((keyIndex, j) => {
      sizes[keyIndex] = slowSizes[j];
    });
    return sizes;
  }

  /** Value sizes the catalog knows the slow tier holds (undefined where it does not know): for fills only. */
  private knownSlowSizes(keys: readonly Digest[]): (number | undefined)[] {
    if (!this.knowledge || this.knowledge.catalog.isClosed) return keys.map(() => undefined);
    const { catalog, storeId, slowTier, maxAgeMs } = this.knowledge;
    const known = catalog.presence.lookup(storeId, slowTier, keys, this.clock.now() - maxAgeMs);
    for (const size of known) if (size !== undefined) this.counters.presenceHits += 1;
    return known;
  }

  /** Remembers that the slow tier holds these (an upload landed, or it said so). */
  private recordPresence(entries: { key: Digest; valueSize: number }[]): void {
    if (!this.knowledge || entries.length === 0 || this.knowledge.catalog.isClosed) return;
    const { catalog, storeId, slowTier } = this.knowledge;
    try {
      catalog.presence.record(storeId, slowTier, entries, this.clock.now());
    } catch (err) {
      this.logger.warn(`fast_slow ${storeId}: could not record slow-tier presence: ${errorMessage(err)}`);
    }
  }

  /** The slow tier answered NOT_FOUND: whatever we believed, it does not hold the key. */
  private forgetPresence(key: Digest): void {
    this.slowChecks.forget(key);
    if (!this.knowledge || this.knowledge.catalog.isClosed) return;
    const { catalog, storeId } = this.knowledge;
    if (catalog.presence.forget(storeId, key)) {
      this.counters.staleCorrected += 1;
      this.logger.info(
        `fast_slow ${storeId}: the slow tier no longer holds ${formatDigest(key)} (removed by a lifecycle rule?); forgot it`,
      );
    }
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    if (this.writeBehind && this.writeBehind.hasRoom(key, size)) {
      return this.writeBehind.write(key, size, () => this.fast.update(key, source, size));
    }
    const targets: StoreDriver[] = [];
    if (writtenOnUpdate(this.fastDirection)) targets.push(this.fast);
    if (writtenOnUpdate(this.slowDirection)) targets.push(this.slow);
    if (targets.length === 0) {
      // Neither tier takes uploads: accept and drop, like noop.
      for await (const _chunk of exactSize(source, size, `fast_slow update of ${formatDigest(key)}`)) {
        // dropped
      }
      return;
    }
    if (targets.length === 1) {
      await targets[0]!.update(key, source, size);
      if (targets[0] === this.slow) this.landedInSlowTier(key, size);
      return;
    }

    const tee = teeStream(source, 2);
    const writes = targets.map(async (store, i) => {
      const branch = tee.branches[i]!;
      try {
        await store.update(key, branch, size);
      } catch (err) {
        // Stop the other tier before it commits, and report the first failure.
        tee.abort(err);
        throw err;
      } finally {
        // A store that failed without reading to the end must not hold the other branch back.
        await branch.return?.();
      }
    });
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    this.landedInSlowTier(key, size);
  }

  /** An upload to the slow tier succeeded: as good as its confirmation, now. */
  private landedInSlowTier(key: Digest, size: number): void {
    this.slowChecks.confirm(key, size);
    this.recordPresence([{ key, valueSize: size }]);
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    try {
      const stream = await this.fast.getPart(key, offset, length);
      this.counters.fastHits += 1;
      return stream;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!filledOnRead(this.fastDirection)) return this.readSlow(key, offset, length);

    const name = digestKey(key);
    const inflight = this.fills.get(name);
    if (inflight) {
      // Someone is already fetching it: wait for the fast tier to have it.
      await inflight.catch(() => {});
      try {
        return await this.fast.getPart(key, offset, length);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // The fill failed or the fast tier could not keep it: read the slow tier directly.
        return this.readSlow(key, offset, length);
      }
    }
    return this.fillAndRead(key, offset, length);
  }

  /** A file only on a fast-tier hit; a miss is getPart's to handle (the slow tier, a fill). */
  async openBlobFile(key: Digest, offset: number, length?: number): Promise<BlobFile | undefined> {
    if (this.fast.openBlobFile === undefined) return undefined;
    try {
      const file = await this.fast.openBlobFile(key, offset, length);
      if (file !== undefined) this.counters.fastHits += 1;
      return file;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async readSlow(key: Digest, offset: number, length: number | undefined): Promise<ByteStream> {
    try {
      const stream = await this.slow.getPart(key, offset, length);
      this.counters.slowHits += 1;
      return stream;
    } catch (err) {
      if (isNotFound(err)) {
        this.counters.misses += 1;
        this.forgetPresence(key);
        throw notFound(`fast_slow: ${formatDigest(key)} not found in either tier`);
      }
      throw err;
    }
  }

  /**
   * Reads the whole blob from the slow tier once, feeding the fast tier and
   * this caller from the same bytes; the caller sees only its range.
   */
  private fillAndRead(key: Digest, offset: number, length: number | undefined): Promise<ByteStream> {
    const name = digestKey(key);
    let settleFill!: () => void;
    const fillDone = new Promise<void>((resolve) => (settleFill = resolve));
    this.fills.set(name, fillDone);
    const finish = () => {
      if (this.fills.get(name) === fillDone) this.fills.delete(name);
      this.removedWhileFilling.delete(name);
      settleFill();
    };

    const start = async (): Promise<ByteStream> => {
      const { size, whole } = await this.openSlowWhole(key);
      let range: { start: number; end: number };
      try {
        range = checkRange(`fast_slow read of ${formatDigest(key)}`, size, offset, length);
      } catch (err) {
        await whole[Symbol.asyncIterator]().return?.(); // release the upstream read
        throw err;
      }
      const { start: from, end } = range;
      this.recordPresence([{ key, valueSize: size }]);
      this.counters.slowHits += 1;
      this.counters.fills += 1;
      const tee = teeStream(whole, 2);
      const [toFast, toCaller] = tee.branches as [AsyncIterableIterator<Buffer>, AsyncIterableIterator<Buffer>];
      void this.fast
        .update(key, toFast, size)
        .catch((err: unknown) => {
          this.counters.fillFailures += 1;
          this.logger.warn(`fast_slow: could not fill the fast tier with ${formatDigest(key)}: ${errorMessage(err)}`);
        })
        .finally(async () => {
          await toFast.return?.();
          // A remove() during the fill must not be undone by the fill landing after it.
          if (this.removedWhileFilling.has(name)) await this.fast.remove?.(key).catch(() => false);
          finish();
        });
      return new RangeOf(toCaller, from, end);
    };

    return start().catch((err: unknown) => {
      finish();
      throw err;
    });
  }

  /**
   * The whole value from the slow tier and its size, which the fill needs up
   * front. A size an existence check just got, or the catalog knows, saves
   * asking (if the object has gone since, the read says NOT_FOUND and the
   * knowledge is forgotten); otherwise a slow tier whose read tells the size
   * (getWithSize) is read at once, its NOT_FOUND the answer: one round trip
   * instead of has() and then the read.
   */
  private async openSlowWhole(key: Digest): Promise<{ size: number; whole: ByteStream }> {
    const known = this.slowChecks.recentSize(key) ?? this.knownSlowSizes([key])[0];
    if (known === undefined && this.slow.getWithSize) {
      try {
        const { size, stream } = await this.slow.getWithSize(key);
        return { size, whole: stream };
      } catch (err) {
        throw isNotFound(err) ? this.missing(key) : this.unreachable(key, err);
      }
    }
    let size = known;
    try {
      if (size === undefined) [size] = await this.slowChecks.sizes([key]);
    } catch (err) {
      throw this.unreachable(key, err);
    }
    if (size === undefined) throw this.missing(key);
    try {
      const stream = await this.slow.getPart(key, 0);
      return { size, whole: stream };
    } catch (err) {
      // NOT_FOUND: gone between the two requests.
      throw isNotFound(err) ? this.missing(key) : err;
    }
  }

  /** Neither tier holds `key`: counted, and whatever was believed about the slow tier is forgotten. */
  private missing(key: Digest): Error {
    this.counters.misses += 1;
    this.forgetPresence(key);
    return notFound(`fast_slow: ${formatDigest(key)} not found in either tier`);
  }

  /**
   * The slow tier is down: answer "not here" at once, as has() does. An
   * UNAVAILABLE would make Bazel retry each action-cache lookup with backoff
   * (seconds per action) before building locally anyway.
   */
  private unreachable(key: Digest, err: unknown): Error {
    this.counters.slowHasFailures += 1;
    return notFound(`fast_slow: ${formatDigest(key)} is not in the fast tier and the slow tier cannot be reached: ${errorMessage(err)}`);
  }

  /**
   * The fast tier's files, with the slow tier kept in the loop: a value only
   * the slow tier holds is brought into the fast tier first (one shared fill),
   * an adopted file is uploaded to the slow tier as an upload would be, and an
   * eviction of a modified file touches the fast tier only.
   */
  private linkableOver(fastFiles: LinkableFiles): LinkableFiles {
    return {
      contentPath: fastFiles.contentPath,
      pathOf: async (key) => {
        const path = await fastFiles.pathOf(key);
        if (path !== undefined || !filledOnRead(this.fastDirection)) return path;
        // Held without a file (kept inline in the fast tier's catalog): nothing to fill.
        if ((await this.fast.has([key]))[0] !== undefined) return undefined;
        let stream: ByteStream;
        try {
          stream = await this.getPart(key, 0);
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
        const fill = this.fills.get(digestKey(key));
        for await (const _chunk of stream) {
          // Read to the end so the fill that feeds the fast tier completes.
        }
        await fill;
        return fastFiles.pathOf(key);
      },
      adopt: async (key, path) => {
        if (this.writeBehind && this.writeBehind.hasRoom(key, key.sizeBytes)) {
          return this.writeBehind.write(key, key.sizeBytes, () => fastFiles.adopt(key, path));
        }
        // A noop slow tier keeps nothing: no need to read the file a second time for it.
        if (writtenOnUpdate(this.slowDirection) && this.slow.kind !== 'noop') {
          await this.slow.update(key, createReadStream(path, { highWaterMark: 1 << 20 }), key.sizeBytes);
          this.landedInSlowTier(key, key.sizeBytes);
        }
        if (writtenOnUpdate(this.fastDirection)) await fastFiles.adopt(key, path);
        else await rm(path, { force: true });
      },
      evictModified: (key, ino) => fastFiles.evictModified(key, ino),
    };
  }

  /** A leaf under the slow side lost these keys behind this store's back: its recent "present" answers no longer stand. */
  forgetKeys(keys: readonly Digest[]): void {
    for (const key of keys) this.slowChecks.forget(key);
  }

  async remove(key: Digest): Promise<boolean> {
    if (this.fills.has(digestKey(key))) this.removedWhileFilling.add(digestKey(key));
    const [a, b] = await Promise.all([this.fast.remove?.(key), this.slow.remove?.(key)]);
    if (this.slow.remove) this.slowChecks.forget(key);
    if (this.knowledge && !this.knowledge.catalog.isClosed && this.slow.remove) {
      this.knowledge.catalog.presence.forget(this.knowledge.storeId, key);
    }
    return Boolean(a) || Boolean(b);
  }

  async *entries(): AsyncIterable<StoreEntry> {
    const seen = new Set<string>();
    for (const store of [this.fast, this.slow]) {
      if (!store.entries) continue;
      for await (const entry of store.entries()) {
        const name = digestKey(entry.key);
        if (seen.has(name)) continue;
        seen.add(name);
        yield entry;
      }
    }
  }

  stats(): FastSlowStats {
    return {
      kind: this.kind,
      fastDirection: this.fastDirection,
      slowDirection: this.slowDirection,
      slowWriteMode: this.writeBehind ? 'async' : 'sync',
      ...this.counters,
      ...this.slowChecks.counts,
      ...(this.writeBehind ? { writeBehind: this.writeBehind.stats() } : {}),
    };
  }

  children(): readonly StoreDriver[] {
    return [this.fast, this.slow];
  }

  async close(): Promise<void> {
    // Let fills in progress land before the tiers are closed.
    await Promise.allSettled([...this.fills.values()]);
    // Then deliver what is owed to the slow tier, for a while (unless told not to).
    await this.writeBehind?.close(this.flushOnClose ? undefined : 0);
  }

  /** `ncache stop --force`: close() leaves owed uploads in the journal (they resume at the next start). */
  skipFlushOnClose(): void {
    this.flushOnClose = false;
  }

  /** Write-behind only: resolves once nothing is owed to the slow tier. */
  drained(): Promise<void> {
    return this.writeBehind?.drained() ?? Promise.resolve();
  }

  /** Write-behind only: retry owed uploads now instead of after their backoff. */
  retryUploadsNow(): void {
    this.writeBehind?.retryNow();
  }
}

/**
 * Bytes [start, end) of a stream. Detaches from the source as soon as the
 * range is done, on error, and on return() even before the first read (an
 * async generator would not run its cleanup then, and the fill would stall).
 */
class RangeOf implements AsyncIterableIterator<Buffer> {
  private pos = 0;
  private finished = false;

  constructor(
    private readonly source: AsyncIterableIterator<Buffer>,
    private readonly start: number,
    private readonly end: number,
  ) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    try {
      while (!this.finished && this.pos < this.end) {
        const { value: chunk, done } = await this.source.next();
        if (done) break;
        const chunkStart = this.pos;
        this.pos += chunk.length;
        if (this.pos > this.start) {
          return {
            value: chunk.subarray(Math.max(0, this.start - chunkStart), Math.min(chunk.length, this.end - chunkStart)),
            done: false,
          };
        }
      }
    } catch (err) {
      await this.return();
      throw err;
    }
    return this.return();
  }

  async return(): Promise<IteratorResult<Buffer>> {
    if (!this.finished) {
      this.finished = true;
      await this.source.return?.();
    }
    return { value: undefined, done: true };
  }
}
