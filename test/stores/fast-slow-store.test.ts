import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { StoreDirection } from '../../src/config/types.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { type ByteStream, type StoreDriver, bufferStream, putBuffer, readBuffer } from '../../src/stores/store.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';
import { waitFor } from '../helpers/wait-for.js';
import { collect } from '../helpers/streams.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();

/** A real MemoryStore that counts the calls made to it. */
class CountingStore extends MemoryStore {
  hasKeys = 0;
  reads = 0;
  updates = 0;
  override async has(keys: readonly Digest[]) {
    this.hasKeys += keys.length;
    return super.has(keys);
  }
  override async getPart(key: Digest, offset: number, length?: number) {
    this.reads += 1;
    return super.getPart(key, offset, length);
  }
  override async update(key: Digest, source: ByteStream, size: number) {
    this.updates += 1;
    return super.update(key, source, size);
  }
}

/** A memory store whose uploads fail after `after` bytes. */
class FailingStore extends MemoryStore {
  constructor(private readonly after: number) {
    super();
  }
  override async update(key: Digest, source: ByteStream, size: number) {
    let seen = 0;
    const self = this;
    async function* failing(): ByteStream {
      for await (const chunk of source) {
        seen += chunk.length;
        if (seen > self.after) throw new Error('disk full');
        yield chunk;
      }
    }
    return super.update(key, failing(), size);
  }
}

function tiers(fastDirection: StoreDirection = 'both', slowDirection: StoreDirection = 'both') {
  const fast = new CountingStore();
  const slow = new CountingStore();
  const store = new FastSlowStore(fast, slow, { fastDirection, slowDirection });
  return { fast, slow, store };
}

/** Waits until the fast tier holds `key` (fills land in the background). */
async function fastHas(fast: StoreDriver, key: Digest): Promise<void> {
  await waitFor(async () => (await fast.has([key]))[0] !== undefined, { what: 'the fast tier to get the blob', intervalMs: 0 });
}

/** Waits until the fast tier no longer holds `key`, failing if it keeps it. */
async function fastLacks(fast: CountingStore, key: Digest): Promise<void> {
  // Timers, not the next turn: under load the fill needs real time to land.
  await waitFor(async () => fast.updates > 0 && (await fast.has([key]))[0] === undefined, {
    what: 'the fast tier to drop a blob removed during its fill',
    intervalMs: 10,
  });
}

describe('FastSlowStore', () => {
  it('asks the slow tier only about what the fast tier lacks', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(10, 1);
    const b = deterministicBytes(20, 2);
    const c = deterministicBytes(30, 3);
    await putBuffer(fast, digestOf(a), a);
    await putBuffer(slow, digestOf(b), b);
    expect(await store.has([digestOf(a), digestOf(b), digestOf(c)])).toEqual([10, 20, undefined]);
    expect(slow.hasKeys).toBe(2);
  });

  it('serves from the fast tier without touching the slow one', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(100, 1);
    await putBuffer(fast, digestOf(a), a);
    expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
    expect(slow.reads).toBe(0);
  });

  it('fills the fast tier from the slow one on a miss', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(3 * 1024 * 1024, 1);
    await putBuffer(slow, digestOf(a), a);
    expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
    await fastHas(fast, digestOf(a));
    expect((await readBuffer(fast, digestOf(a))).equals(a)).toBe(true);
    expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
    expect(slow.reads).toBe(1);
  });

  it('shares one slow read among concurrent readers of a missing blob', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(5 * 1024 * 1024, 1);
    await putBuffer(slow, digestOf(a), a);
    const results = await Promise.all(Array.from({ length: 6 }, () => readBuffer(store, digestOf(a))));
    for (const r of results) expect(r.equals(a)).toBe(true);
    expect(slow.reads).toBe(1);
    expect(fast.updates).toBe(1);
  });

  it('fills the whole blob on a ranged read and returns only the range', async () => {
    const { fast, store } = tiers();
    const a = deterministicBytes(2 * 1024 * 1024, 1);
    const slowStore = (store.children()[1] as MemoryStore);
    await putBuffer(slowStore, digestOf(a), a);
    const part = await collect(await store.getPart(digestOf(a), 1000, 5000));
    expect(part.equals(a.subarray(1000, 6000))).toBe(true);
    await fastHas(fast, digestOf(a));
    expect((await readBuffer(fast, digestOf(a))).equals(a)).toBe(true);
  });

  it('finishes the fill when the first reader abandons its stream', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(20 * 1024 * 1024, 1); // more than the tee's buffer
    await putBuffer(slow, digestOf(a), a);
    const stream = await store.getPart(digestOf(a), 0);
    await stream[Symbol.asyncIterator]().return!();
    await fastHas(fast, digestOf(a));
    expect((await readBuffer(fast, digestOf(a), 64 << 20)).equals(a)).toBe(true);
  });

  it('a remove during a fill is not undone when the fill lands', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(4 * 1024 * 1024, 1);
    await putBuffer(slow, digestOf(a), a);
    // The fill is in flight while the caller still holds the stream.
    const stream = await store.getPart(digestOf(a), 0);
    expect(await store.remove(digestOf(a))).toBe(true);
    expect((await collect(stream)).equals(a)).toBe(true);
    // The fill lands after the remove; the copy it wrote is removed in turn.
    await fastLacks(fast, digestOf(a));
    await expect(readBuffer(store, digestOf(a))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(fast.updates).toBe(1);
  });

  it('reports NOT_FOUND when neither tier has it and OUT_OF_RANGE past the end', async () => {
    const { slow, store } = tiers();
    await expect(store.getPart(digestOf(deterministicBytes(5, 1)), 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const a = deterministicBytes(100, 1);
    await putBuffer(slow, digestOf(a), a);
    await expect(store.getPart(digestOf(a), 101)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    // A failed attempt does not block the next reader.
    expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
  });

  it('writes both tiers on update, streaming through a tee', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(20 * 1024 * 1024, 1);
    await store.update(digestOf(a), bufferStream(a, 16 * 1024), a.length);
    expect((await readBuffer(fast, digestOf(a), 64 << 20)).equals(a)).toBe(true);
    expect((await readBuffer(slow, digestOf(a), 64 << 20)).equals(a)).toBe(true);
  });

  it('fails the update and commits nothing when the fast tier fails mid-way', async () => {
    const slow = new CountingStore();
    const store = new FastSlowStore(new FailingStore(1024 * 1024), slow);
    const a = deterministicBytes(20 * 1024 * 1024, 1);
    await expect(store.update(digestOf(a), bufferStream(a, 64 * 1024), a.length)).rejects.toThrow('disk full');
    expect(await store.has([digestOf(a)])).toEqual([undefined]);
    expect(await slow.has([digestOf(a)])).toEqual([undefined]);
  });

  it('fails the update when the slow tier fails (sync mode)', async () => {
    const fast = new CountingStore();
    const store = new FastSlowStore(fast, new FailingStore(100), { slowWriteMode: 'sync' });
    const a = deterministicBytes(4 * 1024 * 1024, 1);
    await expect(store.update(digestOf(a), bufferStream(a, 64 * 1024), a.length)).rejects.toThrow('disk full');
    expect(await fast.has([digestOf(a)])).toEqual([undefined]);
  });

  it('rejects a short source in both tiers', async () => {
    const { fast, slow, store } = tiers();
    const a = deterministicBytes(1000, 1);
    await expect(store.update(digestOf(a), bufferStream(a.subarray(0, 999)), 1000)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await fast.has([digestOf(a)])).toEqual([undefined]);
    expect(await slow.has([digestOf(a)])).toEqual([undefined]);
  });

  describe('directions', () => {
    it('fast "get": uploads skip the fast tier, reads fill it', async () => {
      const { fast, slow, store } = tiers('get', 'both');
      const a = deterministicBytes(100, 1);
      await putBuffer(store, digestOf(a), a);
      expect(fast.updates).toBe(0);
      expect(slow.updates).toBe(1);
      expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
      await fastHas(fast, digestOf(a));
    });

    it('fast "update": uploads write the fast tier, reads do not fill it', async () => {
      const { fast, slow, store } = tiers('update', 'both');
      const a = deterministicBytes(100, 1);
      await putBuffer(slow, digestOf(a), a);
      expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
      expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
      expect(fast.updates).toBe(0);
      expect(slow.reads).toBe(2);
      const b = deterministicBytes(50, 2);
      await putBuffer(store, digestOf(b), b);
      expect(fast.updates).toBe(1);
    });

    it('slow "read_only": uploads only reach the fast tier', async () => {
      const { fast, slow, store } = tiers('both', 'read_only');
      const a = deterministicBytes(100, 1);
      await putBuffer(store, digestOf(a), a);
      expect(slow.updates).toBe(0);
      expect(fast.updates).toBe(1);
    });

    it('slow "get" is not written by uploads either', async () => {
      const { slow, store } = tiers('both', 'get');
      await putBuffer(store, digestOf(deterministicBytes(10, 1)), deterministicBytes(10, 1));
      expect(slow.updates).toBe(0);
    });

    it('both "read_only": uploads are accepted and dropped', async () => {
      const { fast, slow, store } = tiers('read_only', 'read_only');
      const a = deterministicBytes(100, 1);
      await putBuffer(store, digestOf(a), a);
      expect(fast.updates + slow.updates).toBe(0);
      expect(await store.has([digestOf(a)])).toEqual([undefined]);
    });
  });

  it('fills a real filesystem fast tier once for concurrent ranged readers', async () => {
    const { store: fast } = await startedFilesystemStore(cleanups, { prefix: 'ncache-fast-slow-' });
    const slow = new CountingStore();
    const store = new FastSlowStore(fast, slow);
    const a = deterministicBytes(6 * 1024 * 1024, 1);
    await putBuffer(slow, digestOf(a), a);
    const ranges: [number, number][] = [
      [0, 100],
      [5_000_000, 1_000_000],
      [1, 6 * 1024 * 1024 - 1],
      [3_000_000, 10],
    ];
    const parts = await Promise.all(ranges.map(async ([o, l]) => collect(await store.getPart(digestOf(a), o, l))));
    parts.forEach((p, i) => expect(p.equals(a.subarray(ranges[i]![0], ranges[i]![0] + ranges[i]![1]))).toBe(true));
    expect(slow.reads).toBe(1);
    await fastHas(fast, digestOf(a));
    await fast.close(); // waits for the fill's file to land
    expect(await readdir(fast.contentPath)).toEqual([digestKey(digestOf(a))]);
    expect(await readdir(fast.tempPath)).toEqual([]);
  });
});
