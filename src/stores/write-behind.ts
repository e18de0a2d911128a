// Write-behind for a fast_slow store (slow_write_mode "async"): an upload is
// acknowledged once the fast tier holds the blob and the catalog's journal has
// a committed row saying the slow tier is owed it. A background uploader (a
// few uploads at a time) reads owed blobs from the fast tier and writes them to
// the slow tier, retrying with exponential backoff while the slow tier is down,
// and removes each row once the slow tier has the blob. Rows left at a stop or
// a crash are resumed at the next start.
//
// The row is committed BEFORE the fast-tier write starts: a blob can then
// never sit in the fast tier (and be reported present) without a row owing
// it to the slow tier. A row whose write never completed is found missing from
// the fast tier by the uploader and dropped.
//
// The backlog is bounded (blobs and bytes); when it is full, writes fall back
// to writing both tiers synchronously. Its byte bound is also kept at half the
// fast tier's capacity, because the fast tier evicts by LRU and knows nothing of
// the journal: a blob still owed that gets evicted cannot be uploaded. That is
// logged and counted (`lostBeforeUpload`).
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../util/clock.js';
import { type Digest, digestKey, formatDigest } from '../util/digest.js';
import { errorMessage, isNotFound, unavailable } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { formatBytes } from '../util/sizes.js';
import type { StoreDriver } from './store.js';

export interface WriteBehindOptions {
  /** Uploads running at once. */
  concurrency?: number;
  /** Backlog bounds; past either, writes are synchronous until it shrinks. */
  maxBacklogBlobs?: number;
  maxBacklogBytes?: number;
  /** Backoff after a failed upload: retryBaseMs * 2^(n-1), at most retryMaxMs. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long close() keeps uploading before leaving the rest journaled. */
  flushTimeoutMs?: number;
}

export const WRITE_BEHIND_DEFAULTS = {
  concurrency: 4,
  maxBacklogBlobs: 10_000,
  maxBacklogBytes: 8 * 1024 ** 3,
  retryBaseMs: 1_000,
  retryMaxMs: 5 * 60_000,
  flushTimeoutMs: 15_000,
} as const;

/** The backlog's bounds are powers of 1024 (8 GiB by default): logged in KiB/MiB/GiB. */
const IN_BINARY_UNITS = { binary: true } as const;

/** Backlog sizes (blobs) at which a line is logged as it grows. */
const LOG_THRESHOLDS = [100, 1_000, 10_000, 100_000];

export interface WriteBehindStats {
  readonly backlogCount: number;
  readonly backlogBytes: number;
  readonly oldestAgeMs: number | undefined;
  readonly lastError: string | undefined;
  readonly maxBacklogBlobs: number;
  readonly maxBacklogBytes: number;
  readonly uploading: number;
  readonly uploaded: number;
  readonly uploadFailures: number;
  readonly syncFallbacks: number;
  readonly lostBeforeUpload: number;
  /** Durable commits of journal rows (fewer than uploads when they arrive together). */
  readonly journalCommits: number;
}

interface Deps {
  /** Stable id of the fast_slow store in the catalog ("CAS", "CAS.verify.backend"). */
  storeId: string;
  /** Fingerprint of the slow tier's config, for presence knowledge. */
  slowTier: string;
  catalog: Catalog;
  fast: StoreDriver;
  slow: StoreDriver;
  logger: Logger;
  clock: Clock;
}

export class WriteBehind {
  readonly maxBacklogBlobs: number;
  readonly maxBacklogBytes: number;
  private readonly concurrency: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly flushTimeoutMs: number;
  /** Mirrors the journal's count and bytes for this store (checked on every write). */
  private count = 0;
  private bytes = 0;
  /** Keys whose fast-tier write is in progress: not ready to upload. */
  private readonly writing = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private pausedUntil = 0;
  private consecutiveFailures = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;
  private full = false;
  private loggedThreshold = 0;
  private lastError: string | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Set while close() flushes: a failure ends the wait. */
  private onFailureWhileFlushing: (() => void) | undefined;
  /** Journal rows waiting for the next group commit. */
  private pendingRows: { key: Digest; valueSize: number; done: (err?: unknown) => void }[] = [];
  private counters = { uploaded: 0, uploadFailures: 0, syncFallbacks: 0, lostBeforeUpload: 0, journalCommits: 0 };

  constructor(
    private readonly deps: Deps,
    options: WriteBehindOptions = {},
  ) {
    const o = { ...WRITE_BEHIND_DEFAULTS, ...options };
    this.concurrency = o.concurrency;
    this.retryBaseMs = o.retryBaseMs;
    this.retryMaxMs = o.retryMaxMs;
    this.flushTimeoutMs = o.flushTimeoutMs;
    this.maxBacklogBlobs = o.maxBacklogBlobs;
    const fastCapacity = deps.fast.stats?.().maxBytes;
    this.maxBacklogBytes =
      fastCapacity !== undefined && fastCapacity > 0 ? Math.min(o.maxBacklogBytes, Math.floor(fastCapacity / 2)) : o.maxBacklogBytes;
  }

  private get id(): string {
    return this.deps.storeId;
  }

  /** False once closed, or once the catalog is (a test abandoning a store as a crash would). */
  private get live(): boolean {
    return !this.closed && !this.deps.catalog.isClosed;
  }

  /** Loads the backlog left by a previous run and starts uploading it. */
  start(): void {
    const s = this.deps.catalog.journal.summary(this.id);
    this.count = s.count;
    this.bytes = s.bytes;
    this.lastError = s.lastError;
    if (s.count > 0) {
      this.loggedThreshold = Math.max(this.loggedThreshold, 1); // say so when it drains
      this.deps.logger.info(
        `fast_slow ${this.id}: resuming ${s.count} uploads (${formatBytes(s.bytes, IN_BINARY_UNITS)}) owed to the slow tier from a previous run`,
      );
    }
    this.deps.catalog.journal.makeAllDue(this.id, this.deps.clock.now());
    this.pump();
  }

  /** Whether a write of `size` bytes may go write-behind; logs entering and leaving the full state. */
  hasRoom(key: Digest, size: number): boolean {
    if (size > this.maxBacklogBytes) {
      // One blob larger than the whole byte bound: not a full backlog, just too big to owe.
      this.counters.syncFallbacks += 1;
      this.deps.logger.info(
        `fast_slow ${this.id}: ${formatDigest(key)} is larger than the write-behind bound (${formatBytes(this.maxBacklogBytes, IN_BINARY_UNITS)}); writing it to both tiers now`,
      );
      return false;
    }
    const room = this.count < this.maxBacklogBlobs && this.bytes + size <= this.maxBacklogBytes;
    if (!room) {
      this.counters.syncFallbacks += 1;
      if (!this.full) {
        this.full = true;
        this.deps.logger.warn(
          `fast_slow ${this.id}: write-behind backlog is full (${this.count} blobs, ${formatBytes(this.bytes, IN_BINARY_UNITS)}; ` +
            `bounds ${this.maxBacklogBlobs} blobs, ${formatBytes(this.maxBacklogBytes, IN_BINARY_UNITS)}); ` +
            `writing ${formatDigest(key)} and further blobs to both tiers synchronously until it drains`,
          { lastError: this.lastError },
        );
      }
    } else if (this.full && this.count < this.maxBacklogBlobs * 0.9 && this.bytes < this.maxBacklogBytes * 0.9) {
      this.full = false;
      this.deps.logger.info(`fast_slow ${this.id}: write-behind backlog has room again (${this.count} blobs)`);
    }
    return room;
  }

  /**
   * Writes the fast tier under a journal row committed first. Resolves once
   * both are durable; the slow tier gets the blob later.
   */
  async write(key: Digest, size: number, writeFast: () => Promise<void>): Promise<void> {
    const name = digestKey(key);
    this.writing.set(name, (this.writing.get(name) ?? 0) + 1);
    try {
      try {
        await this.journal(key, size);
      } catch (err) {
        this.release(name);
        throw err;
      }
      try {
        await writeFast();
      } catch (err) {
        this.release(name);
        await this.dropIfAbsent(key, name);
        throw err;
      }
      this.release(name);
    } finally {
      this.pump();
    }
  }

  /**
   * Commits a journal row for `key`. Rows requested in the same turn of the
   * event loop share one transaction, so concurrent uploads pay for one fsync
   * (better-sqlite3 blocks the event loop for it) instead of one each.
   */
  private journal(key: Digest, valueSize: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingRows.push({ key, valueSize, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (this.pendingRows.length === 1) setImmediate(() => this.commitRows());
    });
  }

  private commitRows(): void {
    const rows = this.pendingRows;
    this.pendingRows = [];
    let results;
    try {
      results = this.deps.catalog.journal.enqueueMany(this.id, rows, this.deps.clock.now());
    } catch (err) {
      const failure = unavailable(`fast_slow ${this.id}: cannot record the upload in the catalog's journal: ${errorMessage(err)}`);
      for (const r of rows) r.done(failure);
      return;
    }
    this.counters.journalCommits += 1;
    rows.forEach((row, i) => {
      const previousSize = results[i]!.previousSize;
      if (previousSize === undefined) this.count += 1;
      this.bytes += row.valueSize - (previousSize ?? 0);
      row.done();
    });
    this.logGrowth();
  }

  private release(name: string): void {
    const n = (this.writing.get(name) ?? 1) - 1;
    if (n <= 0) this.writing.delete(name);
    else this.writing.set(name, n);
  }

  /** After a failed fast write: the row owes nothing if no other write of the key is running and fast lacks it. */
  private async dropIfAbsent(key: Digest, name: string): Promise<void> {
    if (this.writing.has(name) || !this.live) return;
    const [present] = await this.deps.fast.has([key]).catch(() => [1]);
    if (present !== undefined || this.writing.has(name) || this.inFlight.has(name) || !this.live) return;
    const row = this.deps.catalog.journal.get(this.id, key);
    if (row && this.deps.catalog.journal.complete(this.id, key, row.version)) this.forgetRow(row.valueSize);
    this.notifyIdle();
  }

  /** Starts uploads that are due, up to the concurrency bound, and arms the timer for the next. */
  private pump(): void {
    if (!this.live) return;
    const now = this.deps.clock.now();
    if (now < this.pausedUntil) return this.arm(this.pausedUntil);
    let room = this.concurrency - this.inFlight.size;
    if (room > 0) {
      let rows;
      try {
        rows = this.deps.catalog.journal.due(this.id, now, room + this.inFlight.size + this.writing.size);
      } catch (err) {
        this.deps.logger.error(`fast_slow ${this.id}: cannot read the upload journal: ${errorMessage(err)}`);
        return;
      }
      for (const row of rows) {
        if (room <= 0) break;
        const name = digestKey(row.key);
        if (this.inFlight.has(name) || this.writing.has(name)) continue;
        room -= 1;
        const upload = this.upload(row).finally(() => {
          this.inFlight.delete(name);
          this.pump();
          this.notifyIdle();
        });
        this.inFlight.set(name, upload);
      }
    }
    if (this.inFlight.size === 0) {
      // Rows due now but skipped are being written; the write's end pumps again.
      const next = this.deps.catalog.journal.nextDueAt(this.id);
      if (next !== undefined && next > now) this.arm(next);
    }
  }

  private arm(at: number): void {
    if (this.closed || (this.timer && at >= this.timerAt)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.min(Math.max(0, at - this.deps.clock.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, delay);
    this.timer.unref();
  }

  private async upload(row: { key: Digest; valueSize: number; version: number; attempts: number }): Promise<void> {
    const { catalog, fast, slow, logger, clock } = this.deps;
    let stream;
    try {
      stream = await fast.getPart(row.key, 0);
    } catch (err) {
      if (!isNotFound(err)) return this.failed(row, err);
      if (!this.live) return;
      // Evicted before it was uploaded (or its write never completed): nothing left to send.
      this.counters.lostBeforeUpload += 1;
      logger.warn(
        `fast_slow ${this.id}: ${formatDigest(row.key)} was owed to the slow tier but is no longer in the fast tier ` +
          '(evicted, or its write never completed); dropping the upload',
      );
      if (catalog.journal.complete(this.id, row.key, row.version)) this.forgetRow(row.valueSize);
      return;
    }
    try {
      await slow.update(row.key, stream, row.valueSize);
    } catch (err) {
      await (stream as AsyncIterableIterator<Buffer>).return?.();
      return this.failed(row, err);
    }
    this.counters.uploaded += 1;
    this.consecutiveFailures = 0;
    if (!this.live) return; // the catalog may be closed already; the row is uploaded again next start (harmless)
    // Presence first: a crash between the two re-uploads the blob, which is harmless.
    catalog.presence.record(this.id, this.deps.slowTier, [{ key: row.key, valueSize: row.valueSize }], clock.now());
    if (catalog.journal.complete(this.id, row.key, row.version)) this.forgetRow(row.valueSize);
  }

  private failed(row: { key: Digest; version: number; attempts: number }, err: unknown): void {
    const now = this.deps.clock.now();
    this.counters.uploadFailures += 1;
    // Uploads in flight together fail together when the slow tier goes away:
    // that is one failure of the slow tier. Counting each would compound the
    // pause (4 in flight: 2^3 longer per round), and a one-minute outage would
    // leave the backlog waiting minutes after the slow tier is back.
    const newRound = now >= this.pausedUntil;
    if (newRound) this.consecutiveFailures += 1;
    this.onFailureWhileFlushing?.();
    this.lastError = `${formatDigest(row.key)}: ${errorMessage(err)}`;
    // The row waits by its own attempts (a blob the slow tier rejects does not
    // spin); the whole uploader pauses by consecutive failures (a slow tier that
    // is down is not hammered once per owed blob).
    if (newRound) this.pausedUntil = now + this.backoff(this.consecutiveFailures);
    this.deps.logger[newRound && this.consecutiveFailures === 1 ? 'warn' : 'debug'](
      `fast_slow ${this.id}: upload of ${formatDigest(row.key)} to the slow tier failed (attempt ${row.attempts + 1}); ` +
        `serving from the fast tier and retrying: ${errorMessage(err)}`,
      { backlog: this.count },
    );
    if (!this.live) return;
    this.deps.catalog.journal.fail(this.id, row.key, row.version, errorMessage(err), now + this.backoff(row.attempts + 1));
  }

  private backoff(n: number): number {
    const base = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(30, n - 1));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  private forgetRow(size: number): void {
    this.count = Math.max(0, this.count - 1);
    this.bytes = Math.max(0, this.bytes - size);
    if (this.count === 0) {
      if (this.loggedThreshold > 0 || this.counters.uploadFailures > 0) {
        this.deps.logger.info(`fast_slow ${this.id}: write-behind backlog drained; the slow tier has every upload`);
      }
      this.loggedThreshold = 0;
      this.lastError = undefined;
    }
  }

  private logGrowth(): void {
    const next = LOG_THRESHOLDS.find((t) => t > this.loggedThreshold && this.count >= t);
    if (next === undefined) return;
    this.loggedThreshold = LOG_THRESHOLDS.filter((t) => this.count >= t).pop()!;
    const oldest = this.deps.catalog.journal.summary(this.id).oldestEnqueuedAt;
    this.deps.logger.warn(
      `fast_slow ${this.id}: write-behind backlog passed ${this.loggedThreshold} blobs (${formatBytes(this.bytes, IN_BINARY_UNITS)} owed to the slow tier` +
        (oldest !== undefined ? `, oldest ${Math.round((this.deps.clock.now() - oldest) / 1000)} s` : '') +
        ')',
      { lastError: this.lastError },
    );
  }

  private notifyIdle(): void {
    if (this.count > 0 || this.inFlight.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when nothing is owed and no upload runs (tests, flush). */
  drained(): Promise<void> {
    if (this.count === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Makes every owed upload due now (the slow tier is back, or we are stopping). */
  retryNow(): void {
    this.pausedUntil = 0;
    this.consecutiveFailures = 0;
    this.deps.catalog.journal.makeAllDue(this.id, this.deps.clock.now());
    this.pump();
  }

  /**
   * Uploads what is owed for up to `timeoutMs`, then stops; rows left stay in
   * the journal for the next start.
   */
  async close(timeoutMs = this.flushTimeoutMs): Promise<void> {
    if (this.closed) return;
    if (this.count > 0 && timeoutMs > 0) {
      this.deps.logger.info(`fast_slow ${this.id}: uploading ${this.count} owed blobs before stopping (up to ${timeoutMs} ms)`);
      let timer: NodeJS.Timeout | undefined;
      // A slow tier that fails during the flush is down: stop waiting for it.
      const gaveUp = new Promise<void>((resolve) => (this.onFailureWhileFlushing = resolve));
      this.retryNow();
      await Promise.race([this.drained(), gaveUp, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      this.onFailureWhileFlushing = undefined;
    }
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count > 0) {
      this.deps.logger.warn(
        `fast_slow ${this.id}: ${this.count} uploads (${formatBytes(this.bytes, IN_BINARY_UNITS)}) still owed to the slow tier; ` +
          'they stay in the journal and resume at the next start',
        { lastError: this.lastError },
      );
    }
  }

  stats(): WriteBehindStats {
    const oldest = this.count > 0 && this.live ? this.deps.catalog.journal.summary(this.id).oldestEnqueuedAt : undefined;
    return {
      backlogCount: this.count,
      backlogBytes: this.bytes,
      oldestAgeMs: oldest === undefined ? undefined : Math.max(0, this.deps.clock.now() - oldest),
      lastError: this.lastError,
      maxBacklogBlobs: this.maxBacklogBlobs,
      maxBacklogBytes: this.maxBacklogBytes,
      uploading: this.inFlight.size,
      ...this.counters,
    };
  }
}
