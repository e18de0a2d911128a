import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EvictionPolicy } from '../../src/config/types.js';
import { FilesystemStore, type FilesystemStoreSpec, SYNC_READ_MAX_BYTES } from '../../src/stores/filesystem-store.js';
import { type ByteStream, bufferStream, putBuffer, readBuffer } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';
import { collect } from '../helpers/streams.js';

const noLimits: EvictionPolicy = { max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: 0 };

let root: string;
let content: string;
let temp: string;
const opened: FilesystemStore[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ncache-fs-store-'));
  content = join(root, 'content');
  temp = join(root, 'tmp');
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

async function openStore(
  options: Partial<FilesystemStoreSpec> & { policy?: Partial<EvictionPolicy> } = {},
  clock = new ManualClock(),
): Promise<FilesystemStore> {
  const { policy, ...spec } = options;
  const store = new FilesystemStore(
    { content_path: content, temp_path: temp, block_size: 1, ...spec, eviction_policy: { ...noLimits, ...policy } },
    { clock },
  );
  await store.start();
  opened.push(store);
  return store;
}

async function closeStore(store: FilesystemStore): Promise<void> {
  opened.splice(opened.indexOf(store), 1);
  await store.close();
}

async function* failAfter(first: Buffer): ByteStream {
  yield first;
  throw new Error('client went away');
}

const contentNames = () => readdir(content);
const tempNames = () => readdir(temp);

describe('FilesystemStore', () => {
  it('writes values as <hash>-<size> files and reads them back', async () => {
    const store = await openStore();
    const data = deterministicBytes(1000, 1);
    const key = digestOf(data);
    await store.update(key, bufferStream(data, 100), data.length);
    expect(await contentNames()).toEqual([digestKey(key)]);
    expect((await readFile(join(content, digestKey(key)))).equals(data)).toBe(true);
    expect(await store.has([key, digestOf(deterministicBytes(3, 1))])).toEqual([1000, undefined]);
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
    expect(await tempNames()).toEqual([]);
  });

  // Small values are read synchronously in one piece, larger ones streamed in chunks: both paths.
  it.each([
    ['read in one piece', 700_000],
    ['streamed in chunks', SYNC_READ_MAX_BYTES + 2_000_000],
  ])('serves ranged reads (%s), an empty read at the end, OUT_OF_RANGE past it and NOT_FOUND when missing', async (_path, size) => {
    const store = await openStore({ read_buffer_size: 1 }); // floor applies: still correct across chunks
    const data = deterministicBytes(size, 1);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    expect((await collect(await store.getPart(key, 123_456, 300_000))).equals(data.subarray(123_456, 423_456))).toBe(
      true,
    );
    expect((await collect(await store.getPart(key, size - 10))).equals(data.subarray(size - 10))).toBe(true);
    expect((await collect(await store.getPart(key, 10, size * 2))).equals(data.subarray(10))).toBe(true);
    expect((await collect(await store.getPart(key, size))).length).toBe(0);
    await expect(store.getPart(key, size + 1)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(store.getPart(digestOf(deterministicBytes(5, 1)), 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('stores a value whose size differs from the key size (action cache entries)', async () => {
    const store = await openStore();
    const actionKey: Digest = { hash: 'a'.repeat(64), sizeBytes: 142 };
    const value = Buffer.from('an ActionResult, serialized');
    await putBuffer(store, actionKey, value);
    expect(await store.has([actionKey])).toEqual([value.length]);
    expect((await readBuffer(store, actionKey)).equals(value)).toBe(true);
    const replacement = Buffer.from('a newer ActionResult');
    await putBuffer(store, actionKey, replacement);
    expect((await readBuffer(store, actionKey)).equals(replacement)).toBe(true);
    expect(store.stats()).toMatchObject({ count: 1, bytes: replacement.length });
  });

  // A small upload fits one gathered write, a large one takes several: both.
  it.each([
    ['a small upload', 100_000],
    ['a large upload', 3 * 1024 * 1024],
  ])('leaves no file and no entry when the source fails mid-way (%s)', async (_path, size) => {
    const store = await openStore();
    const data = deterministicBytes(size, 1);
    const key = digestOf(data);
    await expect(store.update(key, failAfter(data.subarray(0, Math.floor(size / 2))), data.length)).rejects.toThrow(
      'client went away',
    );
    expect(await contentNames()).toEqual([]);
    expect(await tempNames()).toEqual([]);
    expect(await store.has([key])).toEqual([undefined]);
    await expect(store.getPart(key, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it.each([
    ['one byte', 1, 1],
    ['256 KiB in 16 KiB chunks (as Bazel sends them)', 256 * 1024, 16 * 1024],
    ['256 KiB in 4,096 chunks of 64 bytes', 256 * 1024, 64],
    ['3 MiB in 100,000-byte chunks', 3 * 1024 * 1024, 100_000],
  ])('writes %s intact, read-only, with no temp file left', async (_what, size, chunkBytes) => {
    const store = await openStore();
    const data = deterministicBytes(size, 7);
    const key = digestOf(data);
    await store.update(key, bufferStream(data, chunkBytes), size);
    const file = join(content, digestKey(key));
    expect((await readFile(file)).equals(data)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    expect(await tempNames()).toEqual([]);
    expect(await store.has([key])).toEqual([size]);
  });

  it('rejects short and long sources with INVALID_ARGUMENT and keeps nothing', async () => {
    const store = await openStore();
    const data = deterministicBytes(5000, 1);
    const key = digestOf(data);
    await expect(store.update(key, bufferStream(data.subarray(0, 4999)), 5000)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(store.update(key, bufferStream(data), 4999)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await contentNames()).toEqual([]);
    expect(await tempNames()).toEqual([]);
    expect(await store.has([key])).toEqual([undefined]);
  });

  it('keeps content and LRU order across a restart', async () => {
    const clock = new ManualClock();
    const first = await openStore({}, clock);
    const blobs = [1, 2, 3].map((seed) => deterministicBytes(100, seed));
    const keys = blobs.map(digestOf);
    for (let i = 0; i < 3; i++) {
      await putBuffer(first, keys[i]!, blobs[i]!);
      clock.advance(1000);
    }
    await readBuffer(first, keys[0]!); // the oldest write becomes the most recently used
    await closeStore(first);

    const second = await openStore({}, clock);
    const listed: string[] = [];
    for await (const e of second.entries()) listed.push(e.key.hash);
    expect(listed).toEqual([keys[1]!.hash, keys[2]!.hash, keys[0]!.hash]);
    for (let i = 0; i < 3; i++) expect((await readBuffer(second, keys[i]!)).equals(blobs[i]!)).toBe(true);
  });

  it('restores the read-refreshed order and evicts the true LRU after restart', async () => {
    const clock = new ManualClock();
    const first = await openStore({ policy: { max_count: 3 } }, clock);
    const blobs = [1, 2, 3, 4].map((seed) => deterministicBytes(100, seed));
    const keys = blobs.map(digestOf);
    for (let i = 0; i < 3; i++) {
      await putBuffer(first, keys[i]!, blobs[i]!);
      clock.advance(1000);
    }
    await readBuffer(first, keys[0]!);
    clock.advance(1000);
    await closeStore(first);

    const second = await openStore({ policy: { max_count: 3 } }, clock);
    await putBuffer(second, keys[3]!, blobs[3]!); // over max_count: the least recently used (keys[1]) goes
    expect(second.stats().count).toBe(3);
    expect(await second.has([keys[1]!])).toEqual([undefined]);
    expect((await readBuffer(second, keys[0]!)).equals(blobs[0]!)).toBe(true);
    expect((await readBuffer(second, keys[2]!)).equals(blobs[2]!)).toBe(true);
    expect((await readBuffer(second, keys[3]!)).equals(blobs[3]!)).toBe(true);
    await closeStore(second); // waits for the eviction's unlink
    expect(existsSync(join(content, digestKey(keys[1]!)))).toBe(false);
  });

  it('evicts by bytes down to the low watermark and deletes the files', async () => {
    const store = await openStore({ policy: { max_bytes: 1000, evict_bytes: 300 } });
    const blobs = [1, 2, 3, 4, 5].map((seed) => deterministicBytes(250, seed));
    const keys = blobs.map(digestOf);
    for (let i = 0; i < 4; i++) await putBuffer(store, keys[i]!, blobs[i]!);
    expect(store.stats()).toMatchObject({ bytes: 1000, count: 4, evictions: 0 });
    await putBuffer(store, keys[4]!, blobs[4]!); // 1250 > 1000: evict down to <= 700
    expect(store.stats()).toMatchObject({ bytes: 500, count: 2, evictions: 3, maxBytes: 1000 });
    await store.close(); // waits for the unlinks
    expect((await contentNames()).sort()).toEqual([digestKey(keys[3]!), digestKey(keys[4]!)].sort());
    await store.start();
  });

  it('charges whole filesystem blocks against max_bytes', async () => {
    const store = await openStore({ block_size: 4096, policy: { max_bytes: 8192 } });
    await putBuffer(store, digestOf(deterministicBytes(1, 1)), deterministicBytes(1, 1));
    await putBuffer(store, digestOf(deterministicBytes(1, 2)), deterministicBytes(1, 2));
    expect(store.stats()).toMatchObject({ bytes: 8192, count: 2 });
    await putBuffer(store, digestOf(deterministicBytes(1, 3)), deterministicBytes(1, 3));
    expect(store.stats()).toMatchObject({ count: 2 });
  });

  it('evicts by age with an injected clock, also across a restart', async () => {
    const clock = new ManualClock();
    const store = await openStore({ policy: { max_seconds: 60 } }, clock);
    const a = deterministicBytes(10, 1);
    const b = deterministicBytes(10, 2);
    await putBuffer(store, digestOf(a), a);
    clock.advance(50_000);
    await putBuffer(store, digestOf(b), b);
    clock.advance(20_000); // a idle 70 s, b idle 20 s
    expect(await store.has([digestOf(a), digestOf(b)])).toEqual([undefined, 10]);
    await closeStore(store);
    expect(await contentNames()).toEqual([digestKey(digestOf(b))]);
    clock.advance(61_000);
    const again = await openStore({ policy: { max_seconds: 60 } }, clock);
    expect(await again.has([digestOf(b)])).toEqual([undefined]);
    await closeStore(again);
    expect(await contentNames()).toEqual([]);
  });

  it('removes stale temp files at start and ignores names it did not write', async () => {
    await mkdir(temp, { recursive: true });
    await mkdir(content, { recursive: true });
    const stale = join(temp, `${'b'.repeat(64)}-10.0000-1111.ncache-tmp`);
    await writeFile(stale, 'half an upload');
    await writeFile(join(content, 'README.txt'), 'not a blob');
    const data = deterministicBytes(42, 1);
    await writeFile(join(content, digestKey(digestOf(data))), data);
    const store = await openStore();
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(join(content, 'README.txt'))).toBe(true);
    expect(store.stats()).toMatchObject({ count: 1, bytes: 42 });
    expect((await readBuffer(store, digestOf(data))).equals(data)).toBe(true);
  });

  it('keeps serving an open read when the value is evicted meanwhile', async () => {
    const store = await openStore({ policy: { max_count: 1 } });
    const a = deterministicBytes(600_000, 1);
    const b = deterministicBytes(10, 2);
    await putBuffer(store, digestOf(a), a);
    const stream = await store.getPart(digestOf(a), 0);
    await putBuffer(store, digestOf(b), b); // evicts a
    expect(await store.has([digestOf(a)])).toEqual([undefined]);
    expect((await collect(stream)).equals(a)).toBe(true);
  });

  it('closes the file when a stream is abandoned, even before the first chunk', async () => {
    const store = await openStore();
    const data = deterministicBytes(2 * 1024 * 1024, 1);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const file = join(content, digestKey(key));
    const openCount = async () => {
      let n = 0;
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
        if (target === file) n += 1;
      }
      return n;
    };
    const untouched = await store.getPart(key, 0);
    const partly = await store.getPart(key, 0);
    expect(await openCount()).toBe(2);
    await untouched[Symbol.asyncIterator]().return!();
    for await (const _chunk of partly) break;
    expect(await openCount()).toBe(0);
  });

  it('handles concurrent uploads of the same key', async () => {
    const store = await openStore();
    const data = deterministicBytes(300_000, 1);
    const key = digestOf(data);
    await Promise.all(Array.from({ length: 8 }, () => store.update(key, bufferStream(data, 10_000), data.length)));
    expect(await contentNames()).toEqual([digestKey(key)]);
    expect(await tempNames()).toEqual([]);
    expect(store.stats()).toMatchObject({ count: 1, bytes: 300_000 });
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
  });

  it('removes values and lists entries', async () => {
    const store = await openStore();
    const a = deterministicBytes(10, 1);
    await putBuffer(store, digestOf(a), a);
    const listed = [];
    for await (const e of store.entries()) listed.push(e);
    expect(listed).toMatchObject([{ key: digestOf(a), size: 10 }]);
    expect(await store.remove(digestOf(a))).toBe(true);
    expect(await store.remove(digestOf(a))).toBe(false);
    expect(await contentNames()).toEqual([]);
  });

  const shm = '/dev/shm';
  const otherFs = existsSync(shm) && statSync(shm).dev !== statSync(tmpdir()).dev;
  it.skipIf(!otherFs)('refuses to start when temp_path and content_path are on different filesystems', async () => {
    const otherTemp = await mkdtemp(join(shm, 'ncache-fs-store-'));
    try {
      const store = new FilesystemStore({ content_path: content, temp_path: otherTemp });
      const err = await store.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'FAILED_PRECONDITION' });
      expect(String((err as Error).message)).toContain(otherTemp);
      expect(String((err as Error).message)).toContain(content);
      expect(await readdir(otherTemp)).toEqual([]);
    } finally {
      await rm(otherTemp, { recursive: true, force: true });
    }
  });
});
