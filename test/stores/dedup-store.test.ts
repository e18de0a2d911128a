// The dedup store over real filesystem stores and a real catalog file.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import type { DedupSpec } from '../../src/config/types.js';
import { CHUNK_UPLOADS, DedupStore } from '../../src/stores/dedup-store.js';
import { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import type { StoreContext } from '../../src/stores/store-context.js';
import {
  type ByteStream,
  type StoreDriver,
  bufferStream,
  hasOne,
  putBuffer,
  readBuffer,
} from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { type Digest, EMPTY_DIGEST, digestKey, digestOf } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { dedupRefsConsistency, knownChunkRows } from '../helpers/dedup-consistency.js';
import { deterministicBytes } from '../helpers/data.js';
import { collectingLogger } from '../helpers/collecting-logger.js';

const SPEC: DedupSpec = {
  kind: 'dedup',
  index_store: { kind: 'memory' },
  content_store: { kind: 'memory' },
  min_size: 16 << 10,
  normal_size: 64 << 10,
  max_size: 128 << 10,
  max_concurrent_fetch_per_get: 3,
};
const STORE_ID = 'CAS.dedup';

/**
 * Instrumentation around a real store: counts the calls and keys that pass
 * through, delegating everything to the store itself.
 */
class Counting implements StoreDriver {
  readonly kind: string;
  updates: Digest[] = [];
  reads: Digest[] = [];
  hasKeys = 0;
  hasCalls = 0;
  constructor(readonly inner: StoreDriver) {
    this.kind = inner.kind;
  }
  reset(): void {
    this.updates = [];
    this.reads = [];
    this.hasKeys = 0;
    this.hasCalls = 0;
  }
  has(keys: readonly Digest[]) {
    this.hasCalls += 1;
    this.hasKeys += keys.length;
    return this.inner.has(keys);
  }
  update(key: Digest, source: ByteStream, size: number) {
    this.updates.push(key);
    return this.inner.update(key, source, size);
  }
  getPart(key: Digest, offset: number, length?: number) {
    this.reads.push(key);
    return this.inner.getPart(key, offset, length);
  }
  remove(key: Digest) {
    return this.inner.remove?.(key) ?? Promise.resolve(false);
  }
  children() {
    return [this.inner];
  }
}

async function expectRejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeInstanceOf(Error);
  expect(errorCode(err)).toBe(code);
  expect((err as Error).message).toMatch(pattern);
  return err as Error;
}

async function readAll(stream: ByteStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b);
  return Buffer.concat(parts);
}

describe('DedupStore over filesystem stores and a catalog', () => {
  let dir: string;
  let clock: ManualClock;
  let logger: ReturnType<typeof collectingLogger>;
  let catalog: Catalog;
  let open: { index: Counting; content: Counting; store: DedupStore }[];

  const fsSpec = (name: string) => ({
    kind: 'filesystem' as const,
    content_path: join(dir, name, 'content'),
    temp_path: join(dir, name, 'tmp'),
    read_buffer_size: 0,
    block_size: 4096,
  });

  /** A store over the filesystem directories of this test (fresh instances each call, as after a restart). */
  async function openStore(opts: { catalog?: Catalog | null; spec?: DedupSpec } = {}) {
    const ctx: StoreContext = {
      logger,
      clock,
      storeByName: () => {
        throw new Error('no named stores here');
      },
      catalog: opts.catalog === null ? undefined : (opts.catalog ?? catalog),
    };
    const index = new Counting(new FilesystemStore(fsSpec('index'), { clock, logger }));
    const content = new Counting(new FilesystemStore(fsSpec('content'), { clock, logger }));
    await index.inner.start?.();
    await content.inner.start?.();
    const store = new DedupStore(opts.spec ?? SPEC, index, content, ctx, STORE_ID);
    await store.start();
    open.push({ index, content, store });
    return { index, content, store };
  }

  const contentFile = (d: Digest) => join(dir, 'content', 'content', digestKey(d));
  const indexFile = (d: Digest) => join(dir, 'index', 'content', digestKey(d));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ncache-dedup-'));
    clock = new ManualClock(5_000_000);
    logger = collectingLogger();
    catalog = Catalog.open(join(dir, 'catalog.sqlite'), { clock, logger });
    open = [];
  });
  afterEach(async () => {
    for (const o of open) {
      await o.store.close();
      await o.index.inner.close?.();
      await o.content.inner.close?.();
    }
    if (!catalog.isClosed) catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips multi-megabyte blobs, whole and in ranges', async () => {
    const { store, content } = await openStore();
    const data = deterministicBytes(6 << 20, 1);
    const key = digestOf(data);
    await store.update(key, bufferStream(data, 100_000), data.length);
    expect(await hasOne(store, key)).toBe(data.length);
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
    const chunks = catalog.dedup.chunksOf(STORE_ID, key)!;
    expect(chunks.length).toBeGreaterThan(30);
    expect(chunks.reduce((n, c) => n + c.sizeBytes, 0)).toBe(data.length);
    expect(content.updates.length).toBe(new Set(chunks.map(digestKey)).size);
    for (const [offset, length] of [
      [0, 1],
      [12345, 200_000],
      [chunks[0]!.sizeBytes - 3, 6],
      [data.length - 10, 10],
      [data.length - 10, 1000],
      [3_000_000, undefined],
      [data.length, undefined],
      [777, 0],
    ] as [number, number | undefined][]) {
      const got = await readAll(await store.getPart(key, offset, length));
      const want = data.subarray(offset, length === undefined ? undefined : offset + length);
      expect(got.equals(want), `range ${offset}+${length}`).toBe(true);
    }
    await expectRejectsWith(store.getPart(key, data.length + 1), 'OUT_OF_RANGE', /past the end/);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('stores the chunks two similar blobs share once', async () => {
    const { store, content } = await openStore();
    const a = deterministicBytes(8 << 20, 2);
    const b = Buffer.concat([a.subarray(0, 3_000_000), Buffer.from('a small insertion'), a.subarray(3_000_000, 7_000_000), a.subarray(7_000_100)]);
    await putBuffer(store, digestOf(a), a);
    const writesForA = content.updates.length;
    content.reset();
    await putBuffer(store, digestOf(b), b);
    const chunksOfB = catalog.dedup.chunksOf(STORE_ID, digestOf(b))!;
    // Only the chunks around the two edits are new.
    expect(content.updates.length).toBeGreaterThan(0);
    expect(content.updates.length).toBeLessThanOrEqual(6);
    expect(content.updates.length).toBeLessThan(chunksOfB.length / 10);
    // Each distinct chunk of b was asked about once (the content store answers for itself,
    // never the catalog's word: a shared bucket may have lost it), in batches, not one call per chunk.
    expect(content.hasKeys).toBe(new Set(chunksOfB.map(digestKey)).size);
    expect(content.hasCalls).toBeLessThan(chunksOfB.length / 4);
    const stats = store.stats();
    expect(stats.blobs).toBe(2);
    expect(stats.logicalBytes).toBe(a.length + b.length);
    expect(stats.chunksWritten).toBe(writesForA + content.updates.length);
    expect(stats.chunkBytes as number).toBeLessThan(a.length * 1.2);
    expect(stats.dedupRatio as number).toBeGreaterThan(1.6);
    expect((await readBuffer(store, digestOf(b))).equals(b)).toBe(true);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('without a catalog, skips chunks the content store already has (one has() per window)', async () => {
    const { store, content } = await openStore({ catalog: null });
    const a = deterministicBytes(4 << 20, 3);
    await putBuffer(store, digestOf(a), a);
    content.reset();
    const b = Buffer.concat([Buffer.from('prefix!'), a]);
    await putBuffer(store, digestOf(b), b);
    expect(content.updates.length).toBeLessThanOrEqual(3);
    const chunkCount = Math.ceil(b.length / SPEC.max_size);
    expect(content.hasCalls).toBeLessThan(chunkCount); // batched, not one per chunk
    expect((await readBuffer(store, digestOf(b))).equals(b)).toBe(true);
  });

  it('a ranged read fetches only the chunks it needs, with bounded read-ahead', async () => {
    const { store, content } = await openStore();
    const data = deterministicBytes(5 << 20, 4);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const chunks = catalog.dedup.chunksOf(STORE_ID, key)!;
    content.reset();
    const mid = chunks.slice(0, 10).reduce((n, c) => n + c.sizeBytes, 0) + 5;
    expect((await readAll(await store.getPart(key, mid, 100))).equals(data.subarray(mid, mid + 100))).toBe(true);
    expect(content.reads).toEqual([chunks[10]]);
    // Spanning the boundary between chunks 10 and 11: exactly those two.
    content.reset();
    const boundary = mid - 5 + chunks[10]!.sizeBytes;
    await readAll(await store.getPart(key, boundary - 2, 4));
    expect(content.reads).toEqual([chunks[10], chunks[11]]);
    // An abandoned read stops fetching: no more than the read-ahead window beyond what was consumed.
    content.reset();
    const stream = await store.getPart(key, 0);
    for await (const piece of stream) {
      expect(piece.length).toBeGreaterThan(0);
      break;
    }
    expect(content.reads.length).toBeLessThanOrEqual(1 + SPEC.max_concurrent_fetch_per_get);
  });

  it('rejects an upload whose bytes do not hash to its digest, committing nothing', async () => {
    const { store, index } = await openStore();
    const data = deterministicBytes(1 << 20, 5);
    const claimed = { hash: createHash('sha256').update('something else').digest('hex'), sizeBytes: data.length };
    await expectRejectsWith(putBuffer(store, claimed, data), 'INVALID_ARGUMENT', new RegExp(`${claimed.hash}.*hash to ${digestOf(data).hash}`));
    expect(await hasOne(store, claimed)).toBeUndefined();
    expect(await hasOne(index, claimed)).toBeUndefined();
    expect(catalog.dedup.blobState(STORE_ID, claimed)).toBeUndefined();
    expect(catalog.dedup.stats(STORE_ID).blobs).toBe(0);
    // Its chunks are known orphans (gc may free them), referenced by nothing.
    expect(catalog.dedup.stats(STORE_ID).chunks).toBeGreaterThan(0);
    expect(catalog.dedup.orphanChunks(STORE_ID, clock.now() + 1, 1000).length).toBe(catalog.dedup.stats(STORE_ID).chunks);
    await expectRejectsWith(putBuffer(store, { ...claimed, sizeBytes: data.length + 1 }, data), 'INVALID_ARGUMENT', /declared/);
  });

  it('commits nothing when the source fails midway', async () => {
    const { store, index } = await openStore();
    const data = deterministicBytes(2 << 20, 6);
    const key = digestOf(data);
    async function* failing(): ByteStream {
      yield data.subarray(0, 1 << 20);
      throw new Error('client went away');
    }
    await expect(store.update(key, failing(), data.length)).rejects.toThrow(/client went away/);
    expect(await hasOne(store, key)).toBeUndefined();
    expect(await hasOne(index, key)).toBeUndefined();
    expect(catalog.dedup.blobState(STORE_ID, key)).toBeUndefined();
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('a damaged index entry on disk makes the blob read as missing, never as wrong bytes', async () => {
    const { store } = await openStore();
    const data = deterministicBytes(2 << 20, 7);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    // Another machine (or a lost catalog) must go by the index entry alone.
    const entry = await readFile(indexFile(key));
    for (const damage of ['flip', 'truncate']) {
      const bad = Buffer.from(entry);
      if (damage === 'flip') bad[60] = bad[60]! ^ 0x01; // inside the first chunk hash
      await writeFile(indexFile(key), damage === 'flip' ? bad : bad.subarray(0, bad.length - 7));
      const fresh = Catalog.open(join(dir, `other-${damage}.sqlite`), { clock, logger });
      try {
        const other = await openStore({ catalog: fresh });
        expect(await hasOne(other.store, key)).toBeUndefined();
        const err = await expectRejectsWith(other.store.getPart(key, 0), 'NOT_FOUND', new RegExp(`${key.hash}.*damaged`));
        expect(err.message).toMatch(damage === 'flip' ? /checksum/ : /bytes/);
        expect(fresh.dedup.blobState(STORE_ID, key)).toBeUndefined();
      } finally {
        fresh.close();
      }
    }
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes(key.hash) && l.includes('damaged'))).toBe(true);
    // The client uploads it again, which repairs the entry.
    await putBuffer(store, key, data);
    const fresh = Catalog.open(join(dir, 'other-after.sqlite'), { clock, logger });
    try {
      const other = await openStore({ catalog: fresh });
      expect((await readBuffer(other.store, key)).equals(data)).toBe(true);
    } finally {
      fresh.close();
    }
  });

  it('a missing chunk file makes the blob missing: the read fails cleanly, has() reports it, a re-upload repairs it', async () => {
    const { store } = await openStore();
    const data = deterministicBytes(3 << 20, 8);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const chunks = catalog.dedup.chunksOf(STORE_ID, key)!;
    const victim = chunks[4]!;
    await unlink(contentFile(victim));

    // The running store finds out on read...
    const stream = await store.getPart(key, 0);
    const err = await readAll(stream).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(errorCode(err)).toBe('NOT_FOUND');
    expect(err!.message).toContain(key.hash);
    expect(err!.message).toContain(victim.hash);
    // ...and from then on reports the blob missing.
    expect(await hasOne(store, key)).toBeUndefined();
    expect(catalog.dedup.blobState(STORE_ID, key)).toBeUndefined();
    expect(knownChunkRows(catalog.path, STORE_ID, [victim])).toEqual([false]);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });

    // A re-upload writes the lost chunk again.
    await putBuffer(store, key, data);
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
  });

  it('a chunk file deleted while stopped: after a restart has() reports the blob missing', async () => {
    const first = await openStore();
    const data = deterministicBytes(2 << 20, 9);
    const key = digestOf(data);
    await putBuffer(first.store, key, data);
    const victim = catalog.dedup.chunksOf(STORE_ID, key)!.at(-1)!;
    await unlink(contentFile(victim));
    const second = await openStore();
    expect(await hasOne(second.store, key)).toBeUndefined();
    // A read (the last chunk is the lost one) fails before serving the end, naming blob and chunk.
    await expectRejectsWith(
      second.store.getPart(key, 0).then(readAll),
      'NOT_FOUND',
      new RegExp(`${key.hash}.*${victim.hash}.*missing`),
    );
  });

  it('never serves a chunk whose bytes do not match its key, names the blob, and heals on re-upload', async () => {
    const { store, content } = await openStore();
    const data = deterministicBytes(2 << 20, 10);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const chunks = catalog.dedup.chunksOf(STORE_ID, key)!;
    const victim = chunks[0]!;
    const bytes = await readFile(contentFile(victim));
    bytes[100] = bytes[100]! ^ 0xff;
    await writeFile(contentFile(victim), bytes);

    // The first chunk is bad: the read fails before any byte is served.
    const err = await expectRejectsWith(store.getPart(key, 0), 'NOT_FOUND', new RegExp(`${key.hash}.*${victim.hash}.*damaged`));
    expect(err.message).toMatch(/uploads it again/);
    // A range inside the damaged chunk on a fresh look: also refused (the blob is forgotten now).
    expect(await hasOne(store, key)).toBeUndefined();
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes(victim.hash))).toBe(true);

    content.reset();
    await putBuffer(store, key, data);
    expect(content.updates.map(digestKey)).toContain(digestKey(victim));
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('a damaged chunk in the middle fails the stream before its bytes, after serving only verified bytes', async () => {
    const { store } = await openStore();
    const data = deterministicBytes(2 << 20, 11);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const chunks = catalog.dedup.chunksOf(STORE_ID, key)!;
    const bytes = await readFile(contentFile(chunks[5]!));
    bytes[0] = bytes[0]! ^ 0x01;
    await writeFile(contentFile(chunks[5]!), bytes);
    const served: Buffer[] = [];
    let failure: unknown;
    try {
      for await (const piece of await store.getPart(key, 0)) served.push(piece);
    } catch (err) {
      failure = err;
    }
    expect(errorCode(failure)).toBe('NOT_FOUND');
    const got = Buffer.concat(served);
    const before = chunks.slice(0, 5).reduce((n, c) => n + c.sizeBytes, 0);
    expect(got.length).toBe(before);
    expect(got.equals(data.subarray(0, before))).toBe(true);
  });

  it('restart answers from the catalog without re-reading index entries', async () => {
    const first = await openStore();
    const blobs = [1, 2, 3].map((i) => deterministicBytes((1 << 20) + i * 1000, 20 + i));
    for (const b of blobs) await putBuffer(first.store, digestOf(b), b);
    await first.store.close();
    catalog.close();
    catalog = Catalog.open(join(dir, 'catalog.sqlite'), { clock, logger });
    const second = await openStore();
    expect(await second.store.has(blobs.map(digestOf))).toEqual(blobs.map((b) => b.length));
    for (const b of blobs) expect((await readBuffer(second.store, digestOf(b))).equals(b)).toBe(true);
    expect(second.index.reads).toEqual([]);
    // Lifetime counters outlive the process that counted them.
    const lifetime = second.store.stats().lifetime;
    expect(lifetime?.blobsWritten).toBe(3);
    expect(lifetime?.logicalBytesWritten).toBe(blobs.reduce((n, b) => n + b.length, 0));
    expect(lifetime?.chunksWritten).toBe(first.store.stats().chunksWritten);
    expect(second.store.stats().blobsWritten).toBe(0);
    // Without that knowledge (a new catalog) the entries are read once, then cached.
    catalog.close();
    catalog = Catalog.open(join(dir, 'fresh.sqlite'), { clock, logger });
    const third = await openStore();
    expect(await third.store.has(blobs.map(digestOf))).toEqual(blobs.map((b) => b.length));
    expect(third.index.reads.length).toBe(3);
    third.index.reset();
    expect(await third.store.has(blobs.map(digestOf))).toEqual(blobs.map((b) => b.length));
    expect(third.index.reads).toEqual([]);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('lists committed blobs with their chunk counts and access times; remove forgets a blob', async () => {
    const { store, index } = await openStore();
    const a = deterministicBytes(600_000, 30);
    const b = deterministicBytes(300_000, 31);
    await putBuffer(store, digestOf(a), a);
    await putBuffer(store, digestOf(b), b);
    clock.advance(10_000);
    await readBuffer(store, digestOf(a));
    const listed = [];
    for await (const e of store.entries()) listed.push(e);
    const byHash = new Map(listed.map((e) => [e.key.hash, e]));
    expect(byHash.get(digestOf(a).hash)).toMatchObject({ size: a.length, lastAccessMs: 5_010_000 });
    expect(byHash.get(digestOf(b).hash)).toMatchObject({ size: b.length, lastAccessMs: 5_000_000 });
    expect(byHash.get(digestOf(a).hash)!.chunkCount).toBe(catalog.dedup.chunksOf(STORE_ID, digestOf(a))!.length);
    // An existence check counts as a use (Builds without the Bytes may never read a blob it relies on).
    clock.advance(10_000);
    expect(await hasOne(store, digestOf(b))).toBe(b.length);
    const relisted = [];
    for await (const e of store.entries()) relisted.push(e);
    expect(relisted.find((e) => e.key.hash === digestOf(b).hash)?.lastAccessMs).toBe(5_020_000);
    expect(await store.remove(digestOf(a))).toBe(true);
    expect(await hasOne(store, digestOf(a))).toBeUndefined();
    expect(await hasOne(index, digestOf(a))).toBeUndefined();
    expect(catalog.dedup.stats(STORE_ID).blobs).toBe(1);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('the empty blob is always present and reads as nothing', async () => {
    const { store } = await openStore();
    expect(await store.has([EMPTY_DIGEST])).toEqual([0]);
    await putBuffer(store, EMPTY_DIGEST, Buffer.alloc(0));
    expect((await readBuffer(store, EMPTY_DIGEST)).length).toBe(0);
    await expectRejectsWith(store.getPart(EMPTY_DIGEST, 1), 'OUT_OF_RANGE', /past the end/);
    const zeroWrong = { hash: 'ab'.repeat(32), sizeBytes: 0 };
    await expectRejectsWith(putBuffer(store, zeroWrong, Buffer.alloc(0)), 'INVALID_ARGUMENT', /hash to/);
  });

  it('settles a blob left pending at start: committed when its index entry exists, rolled back otherwise', async () => {
    const { store } = await openStore();
    const data = deterministicBytes(500_000, 40);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const chunks = catalog.dedup.chunksOf(STORE_ID, key)!;
    const ghost = digestOf(deterministicBytes(1000, 41));
    // Simulate the two crash points: a row still pending with and without an index entry.
    catalog.dedup.beginBlob(STORE_ID, key, chunks);
    catalog.dedup.beginBlob(STORE_ID, ghost, [chunks[0]!]);
    const again = await openStore();
    expect(catalog.dedup.blobState(STORE_ID, key)).toBe('committed');
    expect(catalog.dedup.blobState(STORE_ID, ghost)).toBeUndefined();
    expect(logger.lines.some((l) => /settled 2 upload\(s\).*1 had their index entry.*1 were rolled back/.test(l))).toBe(true);
    expect((await readBuffer(again.store, key)).equals(data)).toBe(true);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
  });
});

describe('DedupStore over memory stores', () => {
  it('works with memory children and no catalog, including concurrent uploads of overlapping blobs', async () => {
    const ctx: StoreContext = { logger: collectingLogger(), clock: new ManualClock(), storeByName: () => { throw new Error('none'); } };
    const content = new Counting(new MemoryStore());
    const store = new DedupStore(SPEC, new MemoryStore(), content, ctx, 'm');
    const base = deterministicBytes(3 << 20, 50);
    const blobs = [0, 1, 2, 3].map((i) => Buffer.concat([base.subarray(0, 1_000_000 * i), Buffer.from(`edit ${i}`), base.subarray(1_000_000 * i)]));
    await Promise.all(blobs.map((b) => putBuffer(store, digestOf(b), b)));
    for (const b of blobs) expect((await readBuffer(store, digestOf(b))).equals(b)).toBe(true);
    expect(await store.has(blobs.map(digestOf))).toEqual(blobs.map((b) => b.length));
    const stored = (content.inner.stats?.().bytes as number) ?? 0;
    expect(stored).toBeLessThan(base.length * 1.5);
    const listed = [];
    for await (const e of store.entries()) listed.push(e.key.hash);
    expect(listed.sort()).toEqual(blobs.map((b) => digestOf(b).hash).sort());
  });

  it('bounds what an upload holds: the source waits while chunk uploads are stuck', async () => {
    const ctx: StoreContext = { logger: collectingLogger(), clock: new ManualClock(), storeByName: () => { throw new Error('none'); } };
    // A real memory store behind a gate the test opens: chunk writes block until released.
    const inner = new MemoryStore();
    const blocked: (() => void)[] = [];
    let onBlocked: (() => void) | undefined;
    const gated: StoreDriver = {
      kind: 'memory',
      has: (keys) => inner.has(keys),
      getPart: (key, offset, length) => inner.getPart(key, offset, length),
      async update(key, source, size) {
        await new Promise<void>((resolve) => {
          blocked.push(resolve);
          onBlocked?.();
        });
        return inner.update(key, source, size);
      },
    };
    const store = new DedupStore(SPEC, new MemoryStore(), gated, ctx, 'gated');
    const data = deterministicBytes(24 << 20, 60);
    let pulled = 0;
    async function* source(): ByteStream {
      for (let off = 0; off < data.length; off += 256 << 10) {
        const piece = data.subarray(off, off + (256 << 10));
        pulled += piece.length;
        yield piece;
      }
    }
    const upload = store.update(digestOf(data), source(), data.length);
    // Wait for the uploads in flight to fill up (CHUNK_UPLOADS at a time), then let everything else settle.
    await new Promise<void>((resolve) => {
      onBlocked = () => blocked.length >= CHUNK_UPLOADS && resolve();
      onBlocked();
    });
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(blocked.length).toBe(CHUNK_UPLOADS);
    // One window in flight, one filled: at most 2 x 16 chunks of <= 128 KiB, plus the chunker's tail and one source piece.
    expect(pulled).toBeLessThanOrEqual(2 * 16 * SPEC.max_size + SPEC.max_size + (256 << 10));
    expect(pulled).toBeLessThan(data.length / 4);
    onBlocked = () => blocked.shift()!();
    while (blocked.length > 0) blocked.shift()!();
    await upload;
    expect((await readBuffer(store, digestOf(data))).equals(data)).toBe(true);
  });

  it('rejects chunk sizes that make no sense when built', () => {
    const ctx: StoreContext = { logger: collectingLogger(), clock: new ManualClock(), storeByName: () => { throw new Error('none'); } };
    expect(() => new DedupStore({ ...SPEC, min_size: 200, normal_size: 100 }, new MemoryStore(), new MemoryStore(), ctx, 'x')).toThrow(
      /minSize <= normalSize <= maxSize/,
    );
  });
});

