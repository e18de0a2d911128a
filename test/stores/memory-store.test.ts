import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { bufferStream, putBuffer, readBuffer, type ByteStream } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { collect } from '../helpers/streams.js';

const policy = { max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: 0 };

async function* failingAfter(data: Buffer): ByteStream {
  yield data;
  throw new Error('source broke');
}

describe('MemoryStore', () => {
  it('stores and reads back values, whole and in ranges', async () => {
    const store = new MemoryStore();
    const data = Buffer.from('hello, memory store');
    const key = digestOf(data);
    await store.update(key, bufferStream(data, 4), data.length);
    expect(await store.has([key, digestOf(Buffer.from('x'))])).toEqual([data.length, undefined]);
    expect((await readBuffer(store, key)).toString()).toBe('hello, memory store');
    expect((await collect(await store.getPart(key, 7, 6))).toString()).toBe('memory');
    expect((await collect(await store.getPart(key, 7))).toString()).toBe('memory store');
    expect((await collect(await store.getPart(key, data.length))).length).toBe(0);
  });

  it('reports NOT_FOUND for a missing key and OUT_OF_RANGE past the end', async () => {
    const store = new MemoryStore();
    const data = Buffer.from('abc');
    const key = digestOf(data);
    await expect(store.getPart(key, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await putBuffer(store, key, data);
    await expect(store.getPart(key, 4)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
  });

  it('commits nothing when the source fails, ends early or runs long', async () => {
    const store = new MemoryStore();
    const data = Buffer.from('0123456789');
    const key = digestOf(data);
    await expect(store.update(key, failingAfter(data.subarray(0, 5)), 10)).rejects.toThrow('source broke');
    await expect(store.update(key, bufferStream(data.subarray(0, 9)), 10)).rejects.toSatisfy(
      (e) => errorCode(e) === 'INVALID_ARGUMENT',
    );
    await expect(store.update(key, bufferStream(data), 9)).rejects.toSatisfy((e) => errorCode(e) === 'INVALID_ARGUMENT');
    expect(await store.has([key])).toEqual([undefined]);
    expect(store.stats()).toMatchObject({ bytes: 0, count: 0 });
  });

  it('does not keep a reference to the caller’s small buffers', async () => {
    const store = new MemoryStore();
    const data = Buffer.from('mutable');
    const key = digestOf(data);
    await putBuffer(store, key, data);
    data.fill(0);
    expect((await readBuffer(store, key)).toString()).toBe('mutable');
  });

  it('evicts least recently used values by bytes and reports stats', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ kind: 'memory', eviction_policy: { ...policy, max_bytes: 30 } }, { clock });
    const blobs = ['a', 'b', 'c', 'd'].map((c) => Buffer.alloc(10, c));
    const keys = blobs.map(digestOf);
    for (let i = 0; i < 3; i++) await putBuffer(store, keys[i]!, blobs[i]!);
    await store.has([keys[0]!]); // a becomes most recent
    await putBuffer(store, keys[3]!, blobs[3]!);
    const listed = [];
    for await (const e of store.entries()) listed.push(e.key.hash);
    expect(listed).toEqual([keys[2]!.hash, keys[0]!.hash, keys[3]!.hash]);
    expect(await store.has(keys)).toEqual([10, undefined, 10, 10]);
    expect(store.stats()).toMatchObject({ kind: 'memory', bytes: 30, count: 3, maxBytes: 30, evictions: 1 });
  });

  it('peekSize and peekPart do not count as use: the least recently used value is still evicted first', async () => {
    const store = new MemoryStore({ kind: 'memory', eviction_policy: { ...policy, max_bytes: 30 } });
    const blobs = ['a', 'b', 'c', 'd'].map((c) => Buffer.alloc(10, c));
    const keys = blobs.map(digestOf);
    for (let i = 0; i < 3; i++) await putBuffer(store, keys[i]!, blobs[i]!);
    expect(store.peekSize(keys[0]!)).toBe(10);
    expect(store.peekSize(keys[3]!)).toBeUndefined();
    expect((await collect(await store.peekPart(keys[0]!, 0))).equals(blobs[0]!)).toBe(true);
    await putBuffer(store, keys[3]!, blobs[3]!);
    expect(await store.has(keys)).toEqual([undefined, 10, 10, 10]);
  });

  it('evicts by age with an injected clock', async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ kind: 'memory', eviction_policy: { ...policy, max_seconds: 10 } }, { clock });
    const data = Buffer.from('ages');
    const key = digestOf(data);
    await putBuffer(store, key, data);
    clock.advance(9_000);
    expect(await store.has([key])).toEqual([4]);
    clock.advance(10_001);
    expect(await store.has([key])).toEqual([undefined]);
  });

  it('removes values', async () => {
    const store = new MemoryStore();
    const data = Buffer.from('gone');
    const key = digestOf(data);
    await putBuffer(store, key, data);
    expect(await store.remove(key)).toBe(true);
    expect(await store.remove(key)).toBe(false);
    expect(await store.has([key])).toEqual([undefined]);
  });

  it('keeps large values as several chunks and slices ranges across them', async () => {
    const store = new MemoryStore();
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const key = digestOf(data);
    await store.update(key, bufferStream(data, 64 * 1024), data.length);
    const from = 1024 * 1024 - 5;
    const got = await collect(await store.getPart(key, from, 2 * 1024 * 1024));
    expect(got.equals(data.subarray(from, from + 2 * 1024 * 1024))).toBe(true);
  });
});
