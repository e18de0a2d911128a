// The `dedup` store: content-defined chunking (FastCDC) so each chunk is
// stored once in the content store, keyed by its own digest; a blob's ordered
// chunk list is its index entry in the index store, under the blob's digest,
// so any machine sharing those stores can rebuild the blob.
//
// The catalog (when the daemon has one) caches chunk lists and counts each
// chunk's references, so a restart answers from it without re-reading index
// entries and gc knows what is free. It never decides that an upload may skip
// a chunk: the content store is asked (over a shared bucket the catalog may
// name chunks that are gone).
// Its rows follow a two-phase commit: chunks are uploaded first, then one
// transaction records the blob as 'pending' and counts its chunk references,
// then the index entry is written, then the row becomes 'committed'. A
// pending row found at start is settled against the index store.
//
// Nothing is served unchecked: every chunk is read whole and its SHA-256
// compared with its key before any of it is yielded. A damaged index entry, a
// missing chunk or a chunk with the wrong bytes makes the blob read as missing
// (NOT_FOUND; has() leaves it out) so the client uploads it again, and the
// catalog forgets what it believed so that upload really writes the chunks.
import { createHash } from 'node:crypto';
import type { DedupIndex, DedupIndexStats } from '../catalog/dedup-index.js';
import type { DedupSpec } from '../config/types.js';
import { mapConcurrent } from '../util/concurrency.js';
import { type Digest, digestKey, formatDigest, isEmptyDigest } from '../util/digest.js';
import { errorCode, errorMessage, invalidArgument, isNotFound, notFound, withContext } from '../util/errors.js';
import { type ChunkSizes, createChunker } from '../util/fastcdc.js';
import { DamagedIndexEntryError, MAX_INDEX_ENTRY_BYTES, decodeIndexEntry, encodeIndexEntry } from './dedup/index-entry.js';
import type { StoreContext } from './store-context.js';
import {
  type ByteStream,
  type StoreDriver,
  type StoreEntry,
  checkRange,
  exactSize,
  putBuffer,
  readBuffer,
} from './store.js';
import type { DedupCounts, DedupStats } from './store-stats.js';

/** Chunks of an upload checked against the catalog and the content store together. */
const WINDOW_CHUNKS = 16;
/** ...or fewer, when they reach this many bytes. One window is checked/uploaded while the next fills. */
const WINDOW_BYTES = 8 << 20;
/**
 * Chunk uploads in flight per blob upload. With an S3 content store each is a
 * PUT of tens of ms, so this (not bandwidth) bounds one large upload; memory
 * stays bounded by the window either way.
 */
export const CHUNK_UPLOADS = 8;
/** Index entries read at once when has() meets blobs the catalog does not know. */
const INDEX_READS = 8;
/** Reads are recorded for LRU (gc) in one transaction at most this often. */
const TOUCH_FLUSH_MS = 1000;
/**
 * Errors reading a chunk that mean its stored copy is bad, not that the store
 * is unreachable for now (UNAVAILABLE, DEADLINE_EXCEEDED, ... pass through):
 * compression reports a damaged value as INTERNAL, a truncated one as OUT_OF_RANGE.
 */
const UNREADABLE_CODES: ReadonlySet<string> = new Set(['INTERNAL', 'OUT_OF_RANGE', 'INVALID_ARGUMENT']);
/** Chunks remembered as bad until rewritten (a bound, not an expected number). */
const MAX_SUSPECT_CHUNKS = 10_000;
/** Lifetime counters are added to the catalog this often (and at close). */
const COUNTERS_FLUSH_MS = 60_000;
/** How long stats() reuses the catalog's totals. */
const STATS_CACHE_MS = 2000;

/** A blob as dedup lists it: its size and how many chunks it is made of. */
const NO_COUNTS: Readonly<DedupCounts> = {
  blobsWritten: 0,
  logicalBytesWritten: 0,
  chunksReused: 0,
  bytesReused: 0,
  chunksWritten: 0,
  bytesWritten: 0,
  uploadsRejected: 0,
  unreadableBlobs: 0,
};

interface PendingChunk {
  readonly digest: Digest;
  readonly data: Buffer;
}

export class DedupStore implements StoreDriver {
  readonly kind = 'dedup';
  private readonly sizes: ChunkSizes;
  private readonly readAhead: number;
  /** Reads not yet recorded in the catalog, by digest key. */
  private touched = new Map<string, Digest>();
  private touchTimer: NodeJS.Timeout | undefined;
  private totalsCache: { atMs: number; totals: DedupIndexStats } | undefined;
  /**
   * Chunks this process found missing or damaged. Until an upload writes them
   * again they count as absent whatever the content store says: a tier may
   * still hold the bad copy when removing it failed or is not allowed (a
   * bucket policy without s3:DeleteObject, a read_only direction).
   */
  private readonly suspectChunks = new Set<string>();
  /** This process's numbers (the catalog holds the totals). */
  private readonly counts: DedupCounts = { ...NO_COUNTS };
  /** What of `counts` is already added to the catalog's lifetime counters. */
  private flushedCounts: DedupCounts = { ...NO_COUNTS };
  private countersTimer: NodeJS.Timeout | undefined;

  constructor(
    spec: DedupSpec,
    private readonly index: StoreDriver,
    private readonly content: StoreDriver,
    private readonly ctx: StoreContext,
    private readonly storeId: string,
  ) {
    this.sizes = { minSize: spec.min_size, normalSize: spec.normal_size, maxSize: spec.max_size };
    createChunker(this.sizes); // validates the sizes now rather than on the first upload
    this.readAhead = Math.max(1, spec.max_concurrent_fetch_per_get);
  }

  /** The catalog's dedup index, unless there is none (tools, tests) or it was closed (stop races). */
  private get db(): DedupIndex | undefined {
    const catalog = this.ctx.catalog;
    return catalog !== undefined && !catalog.isClosed ? catalog.dedup : undefined;
  }

  children(): readonly StoreDriver[] {
    return [this.index, this.content];
  }

  /** Settles blobs a stopped process left between the two commit phases. */
  async start(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    this.countersTimer = setInterval(() => this.flushCounters(), COUNTERS_FLUSH_MS);
    this.countersTimer.unref();
    const pending = db.pendingBlobs(this.storeId);
    if (pending.length === 0) return;
    const sizes = await this.index.has(pending);
    let committed = 0;
    pending.forEach((blob, i) => {
      // Chunks are all stored before a row turns pending, so an index entry is all a pending blob lacks.
      if (sizes[i] !== undefined) committed += db.commitBlob(this.storeId, blob) ? 1 : 0;
      else db.abortBlob(this.storeId, blob);
    });
    this.ctx.logger.info(
      `dedup store ${this.storeId}: settled ${pending.length} upload(s) interrupted by a stop: ` +
        `${committed} had their index entry and are committed, ${pending.length - committed} were rolled back`,
    );
  }

  async close(): Promise<void> {
    if (this.countersTimer !== undefined) clearInterval(this.countersTimer);
    this.countersTimer = undefined;
    this.flushTouches();
    this.flushCounters();
  }

  /** Adds what this process counted since the last flush to the catalog's lifetime totals. */
  private flushCounters(): void {
    const catalog = this.ctx.catalog;
    if (catalog === undefined || catalog.isClosed) return;
    catalog.counters.add(this.unflushed());
    this.flushedCounts = { ...this.counts };
  }

  /** Counts not yet in the catalog, under their counter names. */
  private unflushed(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of Object.keys(NO_COUNTS) as (keyof DedupCounts)[]) {
      out[`${this.counterPrefix}${k}`] = this.counts[k] - this.flushedCounts[k];
    }
    return out;
  }

  private get counterPrefix(): string {
    return `dedup.${this.storeId}.`;
  }

  /** Totals since the catalog was created: flushed counters plus what is not flushed yet. */
  private lifetime(): DedupCounts | undefined {
    const catalog = this.ctx.catalog;
    if (catalog === undefined || catalog.isClosed) return undefined;
    const stored = catalog.counters.read(this.counterPrefix);
    const pending = this.unflushed();
    const out: DedupCounts = { ...NO_COUNTS };
    for (const k of Object.keys(NO_COUNTS) as (keyof DedupCounts)[]) {
      const name = `${this.counterPrefix}${k}`;
      out[k] = (stored[name] ?? 0) + (pending[name] ?? 0);
    }
    return out;
  }

  // --- writes --------------------------------------------------------------

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    const what = `dedup store ${this.storeId}: upload of ${formatDigest(key)}`;
    if (size !== key.sizeBytes) {
      this.counts.uploadsRejected += 1;
      throw invalidArgument(`${what}: declared ${size} bytes, the digest says ${key.sizeBytes} (dedup stores hold CAS blobs)`);
    }
    const whole = createHash('sha256');
    const chunker = createChunker(this.sizes);
    const chunkList: Digest[] = [];
    const seen = new Set<string>();
    let window: PendingChunk[] = [];
    let windowBytes = 0;
    /** The previous window, being checked and uploaded while this one fills. */
    let inFlight: Promise<void> | undefined;

    const take = async (chunks: Buffer[]): Promise<void> => {
      for (const data of chunks) {
        const digest = { hash: createHash('sha256').update(data).digest('hex'), sizeBytes: data.length };
        chunkList.push(digest);
        window.push({ digest, data });
        windowBytes += data.length;
        if (window.length >= WINDOW_CHUNKS || windowBytes >= WINDOW_BYTES) await send();
      }
    };
    const send = async (): Promise<void> => {
      const batch = window;
      window = [];
      windowBytes = 0;
      if (inFlight !== undefined) await inFlight;
      inFlight = this.storeChunks(batch, seen);
      inFlight.catch(() => {}); // awaited below; this only keeps it from counting as unhandled meanwhile
    };

    try {
      for await (const buf of exactSize(source, size, what)) {
        whole.update(buf);
        await take(chunker.push(buf));
      }
      await take(chunker.finish());
      if (window.length > 0) await send();
      if (inFlight !== undefined) await inFlight;
    } catch (err) {
      if (inFlight !== undefined) await inFlight.catch(() => {});
      throw err;
    }

    const actual = whole.digest('hex');
    if (actual !== key.hash) {
      this.counts.uploadsRejected += 1;
      throw invalidArgument(`${what}: the ${size} bytes received hash to ${actual}, not to the digest's hash; nothing was stored`);
    }
    if (isEmptyDigest(key)) return; // always present; nothing to index

    const entry = encodeIndexEntry(key, chunkList);
    this.db?.beginBlob(this.storeId, key, chunkList);
    try {
      await putBuffer(this.index, key, entry);
    } catch (err) {
      this.db?.abortBlob(this.storeId, key);
      throw withContext(`${what}: writing the index entry`, err);
    }
    this.db?.commitBlob(this.storeId, key);
    this.counts.blobsWritten += 1;
    this.counts.logicalBytesWritten += size;
  }

  /**
   * Skips chunks the content store says it holds, uploads the rest; `seen`
   * holds chunks of this blob already handled. The catalog's record of
   * chunks is not asked: over a shared bucket it may name chunks a lifecycle
   * rule or a teammate removed since, and a blob whose chunks were skipped on
   * that word would point at nothing. The content store answers from its
   * local tier when it can (no request), else asks the bucket.
   */
  private async storeChunks(batch: readonly PendingChunk[], seen: Set<string>): Promise<void> {
    const fresh: PendingChunk[] = [];
    for (const c of batch) {
      const k = digestKey(c.digest);
      if (seen.has(k)) {
        this.reused(c.digest);
        continue;
      }
      seen.add(k);
      fresh.push(c);
    }
    if (fresh.length === 0) return;
    const suspect = fresh.filter((c) => this.suspectChunks.has(digestKey(c.digest)));
    const trusted = fresh.filter((c) => !this.suspectChunks.has(digestKey(c.digest)));
    const sizes = trusted.length > 0 ? await this.content.has(trusted.map((c) => c.digest)) : [];
    const present = trusted.filter((c, i) => sizes[i] === c.digest.sizeBytes);
    const missing = [...suspect, ...trusted.filter((c, i) => sizes[i] !== c.digest.sizeBytes)];
    for (const c of present) this.reused(c.digest);
    // Recorded (an orphan's grace period restarts) before this blob references them.
    this.db?.recordChunks(this.storeId, present.map((c) => c.digest));
    await mapConcurrent(missing, CHUNK_UPLOADS, async (c) => {
      try {
        await putBuffer(this.content, c.digest, c.data);
      } catch (err) {
        throw withContext(`dedup store ${this.storeId}: storing chunk ${formatDigest(c.digest)}`, err);
      }
      this.counts.chunksWritten += 1;
      this.counts.bytesWritten += c.digest.sizeBytes;
      this.suspectChunks.delete(digestKey(c.digest));
    });
    this.db?.recordChunks(this.storeId, missing.map((c) => c.digest));
  }

  private reused(chunk: Digest): void {
    this.counts.chunksReused += 1;
    this.counts.bytesReused += chunk.sizeBytes;
  }

  // --- existence -----------------------------------------------------------

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const out: (number | undefined)[] = keys.map((k) => (isEmptyDigest(k) ? 0 : undefined));
    const asked = keys.map((_, i) => i).filter((i) => !isEmptyDigest(keys[i]!));
    if (asked.length === 0) return out;
    const indexSizes = await this.index.has(asked.map((i) => keys[i]!));
    const candidates = asked.filter((_, j) => indexSizes[j] !== undefined);

    // Chunk lists: from the catalog, else from the index entries (read in parallel).
    const lists = await mapConcurrent(candidates, INDEX_READS, async (i) => {
      const key = keys[i]!;
      const cached = this.db?.chunksOf(this.storeId, key);
      if (cached !== undefined) return { chunks: cached, cached: true };
      try {
        return { chunks: await this.readIndexEntry(key), cached: false };
      } catch (err) {
        if (isNotFound(err)) return undefined; // gone meanwhile, or damaged (logged)
        throw err;
      }
    });

    // One existence check for the chunks of all those blobs.
    const unique = new Map<string, Digest>();
    for (const l of lists) for (const c of l?.chunks ?? []) unique.set(digestKey(c), c);
    const chunkKeys = [...unique.values()];
    const chunkSizes = chunkKeys.length > 0 ? await this.content.has(chunkKeys) : [];
    const present = new Set<string>();
    chunkKeys.forEach((c, j) => {
      if (chunkSizes[j] === c.sizeBytes && !this.suspectChunks.has(digestKey(c))) present.add(digestKey(c));
    });

    candidates.forEach((i, j) => {
      const list = lists[j];
      if (list === undefined) return;
      const key = keys[i]!;
      const absent = list.chunks.filter((c) => !present.has(digestKey(c)));
      if (absent.length === 0) {
        out[i] = key.sizeBytes;
        if (!list.cached) this.db?.cacheBlob(this.storeId, key, list.chunks);
        // An existence check is a use too: with Builds without the Bytes a client may never read what it relies on.
        this.noteAccess(key);
        return;
      }
      this.counts.unreadableBlobs += 1;
      this.ctx.logger.warn(
        `dedup store ${this.storeId}: blob ${formatDigest(key)} is missing ${absent.length} of its ${list.chunks.length} chunks ` +
          `(first: ${formatDigest(absent[0]!)}); it reads as missing so the client uploads it again`,
      );
      for (const c of absent) this.db?.loseChunk(this.storeId, c);
      this.db?.forgetBlob(this.storeId, key);
    });
    return out;
  }

  // --- reads ---------------------------------------------------------------

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const what = `dedup store ${this.storeId}: read of ${formatDigest(key)}`;
    if (isEmptyDigest(key)) {
      checkRange(what, 0, offset, length);
      return (async function* () {})();
    }
    const chunks = await this.chunkList(key);
    const { start, end } = checkRange(what, key.sizeBytes, offset, length);
    this.noteAccess(key);
    if (start === end) return (async function* () {})();

    // Only the chunks covering [start, end) are fetched.
    let first = 0;
    let firstStart = 0;
    while (firstStart + chunks[first]!.sizeBytes <= start) firstStart += chunks[first++]!.sizeBytes;
    let last = first;
    let lastEnd = firstStart + chunks[first]!.sizeBytes;
    while (lastEnd < end) lastEnd += chunks[++last]!.sizeBytes;

    const reader = new ChunkReader(this.readAhead, chunks.slice(first, last + 1), (c, stop) => this.fetchChunk(key, c, stop));
    // Resolve only once the first chunk is in hand: a missing blob is NOT_FOUND here, not mid-stream.
    await reader.ready();
    return reader.stream(start - firstStart, end - start);
  }

  /** The chunk list of a blob: the catalog's committed row, else its index entry. NOT_FOUND if neither. */
  private async chunkList(key: Digest): Promise<Digest[]> {
    return this.db?.chunksOf(this.storeId, key) ?? (await this.readIndexEntry(key));
  }

  /** Reads and checks an index entry; a damaged one is logged and reported as NOT_FOUND. */
  private async readIndexEntry(key: Digest): Promise<Digest[]> {
    let data: Buffer;
    try {
      data = await readBuffer(this.index, key, MAX_INDEX_ENTRY_BYTES);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`dedup store ${this.storeId}: ${formatDigest(key)} not found`);
      // Too large for an entry (INVALID_ARGUMENT from readBuffer), or a layer below found it damaged.
      if (UNREADABLE_CODES.has(errorCode(err))) throw this.unreadable(key, new DamagedIndexEntryError(key, errorMessage(err)));
      throw withContext(`dedup store ${this.storeId}: reading the index entry of ${formatDigest(key)}`, err);
    }
    try {
      return decodeIndexEntry(key, data);
    } catch (err) {
      throw this.unreadable(key, err);
    }
  }

  /** A blob that cannot be read: forget it, log why, and answer NOT_FOUND so the client uploads it again. */
  private unreadable(key: Digest, cause: unknown): Error {
    this.counts.unreadableBlobs += 1;
    this.db?.forgetBlob(this.storeId, key);
    const message = `dedup store ${this.storeId}: blob ${formatDigest(key)} is unreadable: ${errorMessage(cause)}; it reads as missing so the client uploads it again`;
    this.ctx.logger.warn(message);
    return notFound(message);
  }

  /**
   * Reads one chunk whole and checks it against its digest before anyone sees
   * a byte of it. A missing or damaged chunk makes every blob using it
   * unreadable; the damaged copy is removed so a re-upload writes it again.
   */
  private async fetchChunk(blob: Digest, chunk: Digest, stop: { stopped: boolean }): Promise<Buffer> {
    const lost = async (reason: string): Promise<Error> => {
      if (this.suspectChunks.size >= MAX_SUSPECT_CHUNKS) this.suspectChunks.clear();
      this.suspectChunks.add(digestKey(chunk));
      const forgotten = this.db?.loseChunk(this.storeId, chunk) ?? [];
      this.db?.forgetBlob(this.storeId, blob);
      await Promise.resolve(this.content.remove?.(chunk)).catch((err: unknown) =>
        this.ctx.logger.warn(`dedup store ${this.storeId}: could not remove bad chunk ${formatDigest(chunk)}: ${errorMessage(err)}`),
      );
      const others = forgotten.filter((b) => b.hash !== blob.hash).length;
      return this.unreadable(
        blob,
        new Error(`chunk ${formatDigest(chunk)} ${reason}${others > 0 ? ` (${others} other blob(s) using it are forgotten too)` : ''}`),
      );
    };
    const parts: Buffer[] = [];
    let received = 0;
    try {
      const stream = await this.content.getPart(chunk, 0);
      for await (const buf of stream) {
        if (stop.stopped) return Buffer.alloc(0); // abandoned read: leaving the loop releases the chunk's stream
        received += buf.length;
        if (received > chunk.sizeBytes) break;
        parts.push(buf);
      }
    } catch (err) {
      if (isNotFound(err)) throw await lost('is missing from the content store');
      // The content store holds something it cannot turn back into the chunk (a layer below found it damaged).
      if (UNREADABLE_CODES.has(errorCode(err))) throw await lost(`cannot be read back: ${errorMessage(err)}`);
      throw withContext(`dedup store ${this.storeId}: reading chunk ${formatDigest(chunk)} of ${formatDigest(blob)}`, err);
    }
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, Math.min(received, chunk.sizeBytes));
    if (received !== chunk.sizeBytes) {
      throw await lost(
        received > chunk.sizeBytes ? `is longer than its ${chunk.sizeBytes} bytes` : `has ${received} bytes instead of ${chunk.sizeBytes}`,
      );
    }
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== chunk.hash) throw await lost(`is damaged: its bytes hash to ${actual}`);
    return data;
  }

  // --- listing, removal, stats --------------------------------------------

  async remove(key: Digest): Promise<boolean> {
    const removed = (await this.index.remove?.(key)) ?? false;
    const forgot = this.db?.forgetBlob(this.storeId, key) ?? false;
    this.touched.delete(digestKey(key));
    return removed || forgot;
  }

  async *entries(): AsyncIterable<StoreEntry> {
    const db = this.db;
    if (db !== undefined) {
      this.flushTouches();
      for (const b of db.blobs(this.storeId)) {
        yield { key: b.digest, size: b.digest.sizeBytes, lastAccessMs: b.accessedAtMs, chunkCount: b.chunkCount };
      }
      return;
    }
    // No catalog: the index store's keys are the blobs (chunk counts unknown without reading each entry).
    for await (const e of this.index.entries?.() ?? []) {
      yield { key: e.key, size: e.key.sizeBytes, lastAccessMs: e.lastAccessMs };
    }
  }

  stats(): DedupStats {
    const c = this.counts;
    const totals = this.catalogTotals() ?? {
      blobs: c.blobsWritten,
      logicalBytes: c.logicalBytesWritten,
      chunks: c.chunksWritten,
      chunkBytes: c.bytesWritten,
    };
    return {
      kind: this.kind,
      ...totals,
      count: totals.blobs,
      dedupRatio: totals.chunkBytes > 0 ? totals.logicalBytes / totals.chunkBytes : 1,
      ...c,
      lifetime: this.lifetime(),
      minSize: this.sizes.minSize,
      normalSize: this.sizes.normalSize,
      maxSize: this.sizes.maxSize,
    };
  }

  /** The catalog's totals, recomputed at most every few seconds (they are table scans; stats may be polled). */
  private catalogTotals(): DedupIndexStats | undefined {
    const db = this.db;
    if (db === undefined) return undefined;
    const now = this.ctx.clock.now();
    if (this.totalsCache === undefined || now - this.totalsCache.atMs >= STATS_CACHE_MS || now < this.totalsCache.atMs) {
      this.totalsCache = { atMs: now, totals: db.stats(this.storeId) };
    }
    return this.totalsCache.totals;
  }

  private noteAccess(key: Digest): void {
    if (this.db === undefined) return;
    this.touched.set(digestKey(key), key);
    if (this.touchTimer === undefined) {
      this.touchTimer = setTimeout(() => this.flushTouches(), TOUCH_FLUSH_MS);
      this.touchTimer.unref();
    }
  }

  private flushTouches(): void {
    if (this.touchTimer !== undefined) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    const blobs = [...this.touched.values()];
    this.touched = new Map();
    this.db?.touch(this.storeId, blobs, this.ctx.clock.now());
  }
}

/**
 * Streams a run of chunks in order with at most `limit` fetches in flight or
 * waiting (read-ahead). Stopping early (break / return()) stops the fetches.
 */
class ChunkReader {
  private readonly queue: Promise<Buffer>[] = [];
  private next = 0;
  private readonly stop = { stopped: false };

  constructor(
    private readonly limit: number,
    private readonly chunks: readonly Digest[],
    private readonly fetch: (chunk: Digest, stop: { stopped: boolean }) => Promise<Buffer>,
  ) {
    this.fill();
  }

  private fill(): void {
    while (this.queue.length < this.limit && this.next < this.chunks.length) {
      const p = this.fetch(this.chunks[this.next++]!, this.stop);
      p.catch(() => {}); // each is awaited in order; a failure past an abandoned point is not "unhandled"
      this.queue.push(p);
    }
  }

  /** Waits for the first chunk (rejects if it cannot be had). */
  async ready(): Promise<void> {
    try {
      await this.queue[0];
    } catch (err) {
      this.stop.stopped = true;
      throw err;
    }
  }

  /** `take` bytes starting `skip` bytes into the first chunk. */
  async *stream(skip: number, take: number): ByteStream {
    try {
      let remaining = take;
      let from = skip;
      while (remaining > 0 && this.queue.length > 0) {
        const data = await this.queue.shift()!;
        this.fill();
        const piece = data.subarray(from, Math.min(data.length, from + remaining));
        from = 0;
        remaining -= piece.length;
        yield piece;
      }
    } finally {
      this.stop.stopped = true;
      this.queue.length = 0;
    }
  }
}
