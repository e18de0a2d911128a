// Write-behind through a real catalog file and a real filesystem fast tier.
// The slow tier is a real filesystem store behind a switch that can make it
// unreachable (the S3 store is tested against s3rver elsewhere).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import { CONFIRMED_FOR_MS } from '../../src/stores/slow-tier-checks.js';
import { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { type ByteStream, putBuffer, readBuffer } from '../../src/stores/store.js';
import type { WriteBehindOptions, WriteBehindStats } from '../../src/stores/write-behind.js';
import { type Clock, ManualClock, systemClock } from '../../src/util/clock.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { isNotFound, unavailable } from '../../src/util/errors.js';
import type { Logger } from '../../src/util/logger.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { deterministicBytes } from '../helpers/data.js';
import { waitFor } from '../helpers/wait-for.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';

/** A filesystem store that can be switched "down" (every call UNAVAILABLE), counting calls. */
class SwitchableSlowTier extends FilesystemStore {
  down = false;
  hasCalls = 0;
  reads = 0;
  updates = 0;
  private check(): void {
    if (this.down) throw unavailable('slow tier unreachable (test switch)');
  }
  override async has(keys: readonly Digest[]) {
    this.hasCalls += 1;
    this.check();
    return super.has(keys);
  }
  override async getPart(key: Digest, offset: number, length?: number) {
    this.reads += 1;
    this.check();
    return super.getPart(key, offset, length);
  }
  override async update(key: Digest, source: ByteStream, size: number) {
    this.updates += 1;
    this.check();
    return super.update(key, source, size);
  }
}

const FAST_RETRIES: WriteBehindOptions = { retryBaseMs: 5, retryMaxMs: 20, flushTimeoutMs: 0 };

describe('fast_slow write-behind', () => {
  let dir: string;
  const open: { close(): unknown }[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ncache-wb-'));
  });
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await thing.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function tiers(opts: { writeBehind?: WriteBehindOptions; slowDown?: boolean; logger?: Logger; slowDir?: string } = {}) {
    const catalog = Catalog.open(join(dir, 'state', 'catalog.sqlite'));
    const fast = new FilesystemStore({ content_path: join(dir, 'fast', 'c'), temp_path: join(dir, 'fast', 't'), read_buffer_size: 0, block_size: 4096 });
    const slowRoot = opts.slowDir ?? join(dir, 'slow');
    const slow = new SwitchableSlowTier({ content_path: join(slowRoot, 'c'), temp_path: join(slowRoot, 't'), read_buffer_size: 0, block_size: 4096 });
    slow.down = opts.slowDown ?? false;
    const store = new FastSlowStore(fast, slow, {
      slowWriteMode: 'async',
      catalog,
      storeId: 'CAS',
      slowTier: 'slow-fingerprint',
      writeBehind: { ...FAST_RETRIES, ...opts.writeBehind },
      logger: opts.logger,
    });
    await fast.start();
    await slow.start();
    await store.start();
    const handle = {
      catalog,
      fast,
      slow,
      store,
      wb: (): WriteBehindStats => {
        const wb = store.stats().writeBehind;
        if (wb === undefined) throw new Error('this fast_slow store does not write behind');
        return wb;
      },
      async close() {
        await store.close();
        await fast.close();
        await slow.close();
        catalog.close();
      },
    };
    open.push(handle);
    return handle;
  }

  it('refuses async mode without a catalog, saying why', () => {
    const fast = new FilesystemStore({ content_path: join(dir, 'c'), temp_path: join(dir, 't'), read_buffer_size: 0, block_size: 4096 });
    expect(() => new FastSlowStore(fast, fast, { slowWriteMode: 'async' })).toThrow(/needs the daemon's catalog/);
  });

  it('acknowledges once the fast tier and the journal have it, then uploads in the background', async () => {
    const t = await tiers();
    const a = deterministicBytes(300_000, 1);
    await putBuffer(t.store, digestOf(a), a);
    await t.store.drained();
    expect((await readBuffer(t.slow, digestOf(a))).equals(a)).toBe(true);
    expect(t.catalog.journal.summary('CAS').count).toBe(0);
    expect(t.wb()).toMatchObject({ backlogCount: 0, uploaded: 1, uploadFailures: 0 });
  });

  it('journals the upload durably before update() resolves (a second connection sees it without any close)', async () => {
    const t = await tiers({ slowDown: true });
    const a = deterministicBytes(1000, 2);
    await putBuffer(t.store, digestOf(a), a);
    // Like a crash right after the acknowledgement: nothing is closed or flushed.
    const other = Catalog.open(join(dir, 'state', 'catalog.sqlite'));
    open.push(other);
    expect(other.journal.get('CAS', digestOf(a))).toMatchObject({ valueSize: 1000 });
  });

  it('journals concurrent uploads in one commit', async () => {
    const t = await tiers({ slowDown: true });
    const blobs = Array.from({ length: 20 }, (_, i) => deterministicBytes(500 + i, i));
    await Promise.all(blobs.map((b) => putBuffer(t.store, digestOf(b), b)));
    expect(t.wb()).toMatchObject({ backlogCount: 20, journalCommits: 1 });
    for (const b of blobs) expect(t.catalog.journal.get('CAS', digestOf(b))).toBeDefined();
  });

  it('logs when the backlog passes a threshold', async () => {
    const logger = collectingLogger();
    const t = await tiers({ slowDown: true, logger });
    const blobs = Array.from({ length: 100 }, (_, i) => deterministicBytes(100 + i, i));
    await Promise.all(blobs.map((b) => putBuffer(t.store, digestOf(b), b)));
    expect(logger.lines.filter((l) => l.includes('backlog passed 100 blobs'))).toHaveLength(1);
  });

  it('keeps serving while the slow tier is down, grows the backlog, and drains it when it returns', async () => {
    const logger = collectingLogger();
    const t = await tiers({ slowDown: true, logger });
    const blobs = Array.from({ length: 12 }, (_, i) => deterministicBytes(10_000 + i, i));
    for (const b of blobs) await putBuffer(t.store, digestOf(b), b);
    for (const b of blobs) expect((await readBuffer(t.store, digestOf(b))).equals(b)).toBe(true);
    // Existence checks go on: what the fast tier holds is present, the rest reads as missing (not an error).
    const other = deterministicBytes(777, 99);
    expect(await t.store.has([digestOf(blobs[0]!), digestOf(other)])).toEqual([blobs[0]!.length, undefined]);
    const during = t.wb();
    expect(during.backlogCount).toBe(12);
    expect(during.backlogBytes).toBe(blobs.reduce((n, b) => n + b.length, 0));
    expect(during.oldestAgeMs).toBeGreaterThanOrEqual(0);
    // Wait for at least one failed attempt to be recorded.
    await waitFor(() => t.wb().uploadFailures > 0, { what: 'a failed upload attempt', intervalMs: 1 });
    expect(t.wb().lastError).toMatch(/slow tier unreachable/);
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes('failed') && l.includes('retrying'))).toBe(true);

    t.slow.down = false; // backoff retries pick it up by themselves
    await t.store.drained();
    for (const b of blobs) expect((await readBuffer(t.slow, digestOf(b))).equals(b)).toBe(true);
    expect(t.wb()).toMatchObject({ backlogCount: 0, backlogBytes: 0, lastError: undefined });
    expect(logger.lines.some((l) => l.includes('backlog drained'))).toBe(true);
  });

  it('resumes uploads owed from a previous run that stopped without flushing', async () => {
    const first = await tiers({ slowDown: true });
    const blobs = [deterministicBytes(5000, 1), deterministicBytes(70_000, 2), deterministicBytes(1, 3)];
    for (const b of blobs) await putBuffer(first.store, digestOf(b), b);
    expect(first.wb().backlogCount).toBe(3);
    await first.close(); // flushTimeoutMs 0: leave them journaled
    open.splice(open.indexOf(first), 1);

    const logger = collectingLogger();
    const second = await tiers({ logger });
    expect(logger.lines.some((l) => l.includes('resuming 3 uploads'))).toBe(true);
    await second.store.drained();
    for (const b of blobs) expect((await readBuffer(second.slow, digestOf(b))).equals(b)).toBe(true);
    expect(second.catalog.journal.summary('CAS').count).toBe(0);
  });

  it('uploads the latest value of a key written again while owed (action cache)', async () => {
    const t = await tiers({ slowDown: true });
    const key = digestOf(Buffer.from('action'));
    const [v1, v2] = [Buffer.from('first result'), Buffer.from('the second, longer result')];
    await putBuffer(t.store, key, v1);
    await putBuffer(t.store, key, v2);
    expect(t.wb()).toMatchObject({ backlogCount: 1, backlogBytes: v2.length });
    t.slow.down = false;
    t.store.retryUploadsNow();
    await t.store.drained();
    expect((await readBuffer(t.slow, key)).equals(v2)).toBe(true);
  });

  it('stops flushing at close when the slow tier is down, leaving the rows journaled', async () => {
    const logger = collectingLogger();
    const t = await tiers({ slowDown: true, logger, writeBehind: { flushTimeoutMs: 600_000 } });
    const a = deterministicBytes(100, 1);
    await putBuffer(t.store, digestOf(a), a);
    await t.store.close(); // would hang for 10 minutes if it waited for the timeout
    expect(t.catalog.journal.get('CAS', digestOf(a))).toBeDefined();
    expect(logger.lines.some((l) => l.includes('still owed') && l.includes('resume at the next start'))).toBe(true);
  });

  it('falls back to writing both tiers synchronously when the backlog is full', async () => {
    const logger = collectingLogger();
    const t = await tiers({ slowDown: true, logger, writeBehind: { maxBacklogBlobs: 2, retryBaseMs: 60_000, retryMaxMs: 60_000 } });
    const [a, b, c] = [deterministicBytes(100, 1), deterministicBytes(200, 2), deterministicBytes(300, 3)];
    await putBuffer(t.store, digestOf(a), a);
    await putBuffer(t.store, digestOf(b), b);
    await waitFor(() => t.wb().uploadFailures > 0, { what: 'a failed upload attempt', intervalMs: 1 }); // the uploader is now backing off
    t.slow.down = false;
    const updatesBefore = t.slow.updates;
    await putBuffer(t.store, digestOf(c), c); // backlog full: both tiers now, before the ack
    expect(t.slow.updates).toBe(updatesBefore + 1);
    expect((await readBuffer(t.slow, digestOf(c))).equals(c)).toBe(true);
    expect(t.wb()).toMatchObject({ backlogCount: 2, syncFallbacks: 1 });
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes('backlog is full'))).toBe(true);
    t.store.retryUploadsNow();
    await t.store.drained();
    expect((await readBuffer(t.slow, digestOf(a))).equals(a)).toBe(true);
  });

  it('writes a blob larger than the byte bound to both tiers at once', async () => {
    const t = await tiers({ writeBehind: { maxBacklogBytes: 1000 } });
    const big = deterministicBytes(5000, 8);
    await putBuffer(t.store, digestOf(big), big);
    expect(t.slow.updates).toBe(1);
    expect((await readBuffer(t.slow, digestOf(big))).equals(big)).toBe(true);
    expect(t.wb()).toMatchObject({ backlogCount: 0, syncFallbacks: 1 });
  });

  it('with a full backlog and the slow tier down, a write fails rather than being acknowledged unjournaled', async () => {
    const t = await tiers({ slowDown: true, writeBehind: { maxBacklogBlobs: 1 } });
    const [a, b] = [deterministicBytes(100, 1), deterministicBytes(200, 2)];
    await putBuffer(t.store, digestOf(a), a);
    await expect(putBuffer(t.store, digestOf(b), b)).rejects.toThrow(/unreachable/);
    expect(t.catalog.journal.get('CAS', digestOf(b))).toBeUndefined();
  });

  it('drops, logs and counts an owed blob the fast tier lost before it could be uploaded', async () => {
    const logger = collectingLogger();
    const t = await tiers({ slowDown: true, logger });
    const a = deterministicBytes(4000, 9);
    await putBuffer(t.store, digestOf(a), a);
    await t.fast.remove(digestOf(a)); // as an eviction would
    t.slow.down = false;
    t.store.retryUploadsNow();
    await t.store.drained();
    expect(t.wb()).toMatchObject({ backlogCount: 0, lostBeforeUpload: 1 });
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes('no longer in the fast tier'))).toBe(true);
    expect((await t.slow.has([digestOf(a)]))[0]).toBeUndefined();
  });

  it('fails the upload, before the fast tier is written, when the journal cannot record it', async () => {
    const t = await tiers({ slowDown: true });
    t.catalog.close(); // as if the catalog's disk failed
    const a = deterministicBytes(1000, 6);
    await expect(putBuffer(t.store, digestOf(a), a)).rejects.toThrow(/cannot record the upload in the catalog's journal/);
    expect(await t.fast.has([digestOf(a)])).toEqual([undefined]);
  });

  it('a failed fast-tier write leaves no journal row behind', async () => {
    const t = await tiers({ slowDown: true });
    const a = deterministicBytes(1000, 4);
    async function* short(): ByteStream {
      yield a.subarray(0, 500);
    }
    await expect(t.store.update(digestOf(a), short(), a.length)).rejects.toThrow();
    expect(t.catalog.journal.get('CAS', digestOf(a))).toBeUndefined();
    expect(t.wb().backlogCount).toBe(0);
  });
});

describe('fast_slow existence knowledge', () => {
  let dir: string;
  tempDirPerTest('ncache-presence-', (path) => (dir = path));

  async function syncTiers(clock: Clock = systemClock) {
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    const fast = new FilesystemStore({ content_path: join(dir, 'fast', 'c'), temp_path: join(dir, 'fast', 't'), read_buffer_size: 0, block_size: 4096 });
    const slow = new SwitchableSlowTier({ content_path: join(dir, 'slow', 'c'), temp_path: join(dir, 'slow', 't'), read_buffer_size: 0, block_size: 4096 });
    const store = new FastSlowStore(fast, slow, { catalog, storeId: 'CAS', slowTier: 'tier-1', clock });
    await fast.start();
    await slow.start();
    await store.start();
    return {
      catalog,
      fast,
      slow,
      store,
      async close() {
        await store.close();
        await fast.close();
        await slow.close();
        catalog.close();
      },
    };
  }

  it('a warm build with everything in the fast tier makes no slow-tier request', async () => {
    const t = await syncTiers();
    const blobs = Array.from({ length: 20 }, (_, i) => deterministicBytes(1000 + i, i));
    for (const b of blobs) await putBuffer(t.store, digestOf(b), b);
    const before = { has: t.slow.hasCalls, reads: t.slow.reads, updates: t.slow.updates };
    expect(await t.store.has(blobs.map(digestOf))).toEqual(blobs.map((b) => b.length));
    for (const b of blobs) expect((await readBuffer(t.store, digestOf(b))).equals(b)).toBe(true);
    expect({ has: t.slow.hasCalls, reads: t.slow.reads, updates: t.slow.updates }).toEqual(before);
    await t.close();
  });

  it('existence of a blob the fast tier lacks is asked of the slow tier, whatever the catalog knows', async () => {
    const clock = new ManualClock();
    const t = await syncTiers(clock);
    const a = deterministicBytes(5000, 1);
    await putBuffer(t.store, digestOf(a), a); // sync write: both tiers, presence recorded
    await t.fast.remove(digestOf(a));
    await t.slow.remove(digestOf(a)); // a teammate wiped the prefix
    clock.advance(CONFIRMED_FOR_MS); // the upload's own confirmation is no longer reused
    const before = t.slow.hasCalls;
    expect(await t.store.has([digestOf(a)])).toEqual([undefined]);
    expect(t.slow.hasCalls).toBe(before + 1);
    await t.close();
  });

  it('fills the fast tier from the slow one with a single GET once an existence check has confirmed the blob', async () => {
    const t = await syncTiers();
    const a = deterministicBytes(6000, 4);
    await putBuffer(t.slow, digestOf(a), a); // another machine uploaded it
    expect(await t.store.has([digestOf(a)])).toEqual([6000]); // e.g. completeness checking
    const before = { has: t.slow.hasCalls, reads: t.slow.reads };
    expect((await readBuffer(t.store, digestOf(a))).equals(a)).toBe(true);
    expect({ has: t.slow.hasCalls, reads: t.slow.reads }).toEqual({ has: before.has, reads: before.reads + 1 });
    await t.close();
  });

  it('remembers what the slow tier confirmed across a restart for fills, and asks again for existence', async () => {
    const first = await syncTiers();
    const a = deterministicBytes(3000, 2);
    await putBuffer(first.slow, digestOf(a), a); // another machine uploaded it
    expect(await first.store.has([digestOf(a)])).toEqual([3000]);
    expect(first.slow.hasCalls).toBe(1);
    await first.close();
    const second = await syncTiers();
    expect(second.catalog.presence.lookup('CAS', 'tier-1', [digestOf(a)], 0)).toEqual([3000]);
    expect(await second.store.has([digestOf(a)])).toEqual([3000]);
    expect(second.slow.hasCalls).toBe(1);
    await second.close();
  });

  it('corrects stale knowledge on read: NOT_FOUND, never a false hit, and the next check asks the slow tier', async () => {
    const t = await syncTiers();
    const a = deterministicBytes(8000, 3);
    await putBuffer(t.store, digestOf(a), a);
    await t.fast.remove(digestOf(a));
    await t.slow.remove(digestOf(a)); // a bucket lifecycle rule removed it
    // The fill trusts the catalog for the size (no HEAD); the GET finds it gone.
    const err = await t.store.getPart(digestOf(a), 0).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNotFound(err)).toBe(true);
    expect(t.catalog.presence.lookup('CAS', 'tier-1', [digestOf(a)], 0)).toEqual([undefined]);
    const before = t.slow.hasCalls;
    expect(await t.store.has([digestOf(a)])).toEqual([undefined]);
    expect(t.slow.hasCalls).toBe(before + 1);
    expect(t.store.stats().staleCorrected).toBe(1);
    await t.close();
  });

  it('forgets knowledge about a slow tier whose config changed', async () => {
    const first = await syncTiers();
    const a = deterministicBytes(100, 5);
    await putBuffer(first.store, digestOf(a), a);
    await first.close();
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    const fast = new FilesystemStore({ content_path: join(dir, 'fast2', 'c'), temp_path: join(dir, 'fast2', 't'), read_buffer_size: 0, block_size: 4096 });
    const slow = new SwitchableSlowTier({ content_path: join(dir, 'slow2', 'c'), temp_path: join(dir, 'slow2', 't'), read_buffer_size: 0, block_size: 4096 });
    const store = new FastSlowStore(fast, slow, { catalog, storeId: 'CAS', slowTier: 'tier-2' });
    await fast.start();
    await slow.start();
    await store.start();
    expect(await store.has([digestOf(a)])).toEqual([undefined]);
    expect(catalog.presence.lookup('CAS', 'tier-1', [digestOf(a)], 0)).toEqual([undefined]);
    await store.close();
    await fast.close();
    await slow.close();
    catalog.close();
  });
});
