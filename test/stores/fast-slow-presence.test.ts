// The presence rule of fast_slow (src/stores/slow-tier-checks.ts): an
// existence answer says "present" only for what the fast tier holds or the
// slow tier itself confirmed within the last few seconds. Real memory tiers,
// a real catalog file, a clock moved by hand.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import type { DedupSpec } from '../../src/config/types.js';
import { DedupStore } from '../../src/stores/dedup-store.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { CONFIRMED_FOR_MS } from '../../src/stores/slow-tier-checks.js';
import { putBuffer, readBuffer } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { isNotFound } from '../../src/util/errors.js';
import { deterministicBytes } from '../helpers/data.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

/** A memory store standing in for S3: counts existence requests (keys and calls) and can hold them until released. */
class SlowTier extends MemoryStore {
  hasCalls = 0;
  hasKeys = 0;
  reads = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  override async has(keys: readonly Digest[]) {
    this.hasCalls += 1;
    this.hasKeys += keys.length;
    await this.gate;
    return super.has(keys);
  }
  override async getPart(key: Digest, offset: number, length?: number) {
    this.reads += 1;
    return super.getPart(key, offset, length);
  }
}

const cleanups = cleanupsAfterEach();

/** A "laptop": a memory fast tier (empty at each start) over `slow`, with the catalog file in `dir`. */
function laptop(dir: string, slow: SlowTier, clock: ManualClock) {
  const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
  cleanups.push(() => catalog.close());
  const fast = new MemoryStore();
  const store = new FastSlowStore(fast, slow, { catalog, storeId: 'CAS', slowTier: 'bucket-1', clock });
  return { catalog, fast, store };
}

describe('fast_slow presence: never claim a blob that is gone', () => {
  it('a blob the catalog records as present but the slow tier lost is reported missing, after a restart too', async () => {
    const dir = await tempDir('ncache-presence-rule-', cleanups);
    const clock = new ManualClock();
    const slow = new SlowTier();
    const a = deterministicBytes(4000, 1);
    const key = digestOf(a);

    const first = laptop(dir, slow, clock);
    await first.store.start();
    await putBuffer(first.store, key, a);
    expect(first.catalog.presence.lookup('CAS', 'bucket-1', [key], 0)).toEqual([4000]);
    first.catalog.close();

    await slow.remove(key); // the bucket was emptied while the daemon was down
    const second = laptop(dir, slow, clock); // restart: memory fast tier empty, catalog still full
    await second.store.start();
    expect(second.catalog.presence.lookup('CAS', 'bucket-1', [key], 0)).toEqual([4000]);
    expect(await second.store.has([key])).toEqual([undefined]);
    expect(slow.hasKeys).toBe(1);
    // A read finds it gone too, and the catalog forgets it.
    const err = await second.store.getPart(key, 0).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect(second.catalog.presence.lookup('CAS', 'bucket-1', [key], 0)).toEqual([undefined]);
  });

  it('the same daemon: a confirmation older than the window is not reused, even seconds later', async () => {
    const dir = await tempDir('ncache-presence-rule-', cleanups);
    const clock = new ManualClock();
    const slow = new SlowTier();
    const { store } = laptop(dir, slow, clock);
    await store.start();
    const a = deterministicBytes(3000, 2);
    await putBuffer(slow, digestOf(a), a); // another machine uploaded it

    expect(await store.has([digestOf(a)])).toEqual([3000]);
    expect(slow.hasKeys).toBe(1);
    await slow.remove(digestOf(a)); // then a teammate wiped the prefix
    clock.advance(CONFIRMED_FOR_MS);
    expect(await store.has([digestOf(a)])).toEqual([undefined]);
    expect(slow.hasKeys).toBe(2);
  });

  it('reuses a positive answer within the window: one request for repeated checks, and none before the fill', async () => {
    const dir = await tempDir('ncache-presence-rule-', cleanups);
    const clock = new ManualClock();
    const slow = new SlowTier();
    const { store } = laptop(dir, slow, clock);
    await store.start();
    const a = deterministicBytes(5000, 3);
    const b = deterministicBytes(600, 4);
    await putBuffer(slow, digestOf(a), a);

    expect(await store.has([digestOf(a), digestOf(b)])).toEqual([5000, undefined]);
    clock.advance(CONFIRMED_FOR_MS - 1);
    // FindMissingBlobs, then ByteStream's early completion, then a completeness check: one request for `a`.
    expect(await store.has([digestOf(a)])).toEqual([5000]);
    expect(await store.has([digestOf(a), digestOf(b)])).toEqual([5000, undefined]);
    expect({ calls: slow.hasCalls, keys: slow.hasKeys }).toEqual({ calls: 2, keys: 3 }); // `b` (missing) is asked each time it is checked
    expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
    expect({ calls: slow.hasCalls, reads: slow.reads }).toEqual({ calls: 2, reads: 1 });
    expect(store.stats()).toMatchObject({ slowChecks: 3, slowChecksReused: 2 });
  });

  it('concurrent checks of one digest share one request', async () => {
    const dir = await tempDir('ncache-presence-rule-', cleanups);
    const clock = new ManualClock();
    const slow = new SlowTier();
    const { store } = laptop(dir, slow, clock);
    await store.start();
    const a = deterministicBytes(2000, 5);
    const b = deterministicBytes(2100, 6);
    await putBuffer(slow, digestOf(a), a);

    slow.hold();
    const checks = [
      store.has([digestOf(a)]),
      store.has([digestOf(a), digestOf(b)]),
      store.has([digestOf(b), digestOf(a), digestOf(a)]),
    ];
    slow.release();
    expect(await Promise.all(checks)).toEqual([[2000], [2000, undefined], [undefined, 2000, 2000]]);
    // `a` once (joined by the second check and twice by the third); `b` once (asked by the second, joined by the third).
    expect(slow.hasKeys).toBe(2);
    expect(store.stats()).toMatchObject({ slowChecks: 2, slowChecksShared: 4 });
  });

  it('a missing answer is never reused: a blob uploaded elsewhere shows up at the next check', async () => {
    const dir = await tempDir('ncache-presence-rule-', cleanups);
    const clock = new ManualClock();
    const slow = new SlowTier();
    const { store } = laptop(dir, slow, clock);
    await store.start();
    const a = deterministicBytes(700, 7);
    expect(await store.has([digestOf(a)])).toEqual([undefined]);
    await putBuffer(slow, digestOf(a), a);
    expect(await store.has([digestOf(a)])).toEqual([700]);
  });

  it('a slow tier that cannot answer makes the checks report missing, for every caller sharing the request', async () => {
    const dir = await tempDir('ncache-presence-rule-', cleanups);
    const clock = new ManualClock();
    const slow = new SlowTier();
    const { store } = laptop(dir, slow, clock);
    await store.start();
    const a = deterministicBytes(800, 8);
    await putBuffer(slow, digestOf(a), a);
    slow.hold();
    const original = slow.has.bind(slow);
    slow.has = async (keys) => {
      await original(keys);
      throw new Error('connection reset');
    };
    const checks = [store.has([digestOf(a)]), store.has([digestOf(a)])];
    slow.release();
    expect(await Promise.all(checks)).toEqual([[undefined], [undefined]]);
    expect(store.stats()).toMatchObject({ slowHasFailures: 2, slowChecks: 1, slowChecksShared: 1 });
  });
});

describe('dedup over fast_slow tiers: a wiped bucket never makes an upload skip chunks', () => {
  const SPEC: DedupSpec = {
    kind: 'dedup',
    index_store: { kind: 'memory' },
    content_store: { kind: 'memory' },
    min_size: 16 << 10,
    normal_size: 64 << 10,
    max_size: 128 << 10,
    max_concurrent_fetch_per_get: 3,
  };

  /** The seed's dedup shape: index and chunks each a memory fast tier over a shared "bucket"; empty memory at each start. */
  async function seedDedup(dir: string, bucket: { index: SlowTier; chunks: SlowTier }, clock: ManualClock) {
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    cleanups.push(() => catalog.close());
    const tiers = (slow: SlowTier, storeId: string) =>
      new FastSlowStore(new MemoryStore(), slow, { catalog, storeId, slowTier: `bucket-${storeId}`, clock });
    const index = tiers(bucket.index, 'CAS.dedup.index_store');
    const content = tiers(bucket.chunks, 'CAS.dedup.content_store');
    const ctx = { logger: silentLogger, clock, catalog, storeByName: () => { throw new Error('none'); } };
    const store = new DedupStore(SPEC, index, content, ctx, 'CAS.dedup');
    for (const s of [index, content, store]) await s.start();
    cleanups.push(() => store.close());
    return { catalog, store };
  }

  it('after a restart over an emptied bucket, a blob sharing chunks with an old one is stored whole again', async () => {
    const dir = await tempDir('ncache-presence-dedup-', cleanups);
    const clock = new ManualClock();
    const bucket = { index: new SlowTier(), chunks: new SlowTier() };
    const old = deterministicBytes(1 << 20, 11);
    const first = await seedDedup(dir, bucket, clock);
    await putBuffer(first.store, digestOf(old), old);
    const oldChunks = first.catalog.dedup.chunksOf('CAS.dedup', digestOf(old))!;
    expect(oldChunks.length).toBeGreaterThan(4);
    first.catalog.close();

    // A teammate wiped the prefix; this laptop restarts with its catalog still full.
    for (const slow of [bucket.index, bucket.chunks]) for await (const e of slow.entries()) await slow.remove(e.key);
    clock.advance(CONFIRMED_FOR_MS);
    const second = await seedDedup(dir, bucket, clock);
    expect(second.catalog.dedup.chunksOf('CAS.dedup', digestOf(old))).toEqual(oldChunks);
    expect(await second.store.has([digestOf(old)])).toEqual([undefined]);

    // A new blob made mostly of the old one's chunks: every chunk it names lands in the bucket.
    const grown = Buffer.concat([old, deterministicBytes(100_000, 12)]);
    await putBuffer(second.store, digestOf(grown), grown);
    const grownChunks = second.catalog.dedup.chunksOf('CAS.dedup', digestOf(grown))!;
    expect(await bucket.chunks.has(grownChunks)).toEqual(grownChunks.map((c) => c.sizeBytes));
    expect(await bucket.index.has([digestOf(grown)])).toEqual([expect.any(Number)]);

    // And another laptop (fresh catalog and memory) reads it back from the bucket alone.
    const other = await seedDedup(await tempDir('ncache-presence-dedup-', cleanups), bucket, clock);
    expect((await readBuffer(other.store, digestOf(grown))).equals(grown)).toBe(true);
  });
});
