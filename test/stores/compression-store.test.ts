import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CompressionSpec, EvictionPolicy } from '../../src/config/types.js';
import { CompressionStore, compressionView } from '../../src/stores/compression-store.js';
import { HEADER_SIZE, INDEX_ENTRY_SIZE } from '../../src/stores/compression/lz4-blocks.js';
import { createStore } from '../../src/stores/factory.js';
import type { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import {
  type ByteStream,
  type StoreDriver,
  type StoreEntry,
  bufferStream,
  closeTree,
  hasOne,
  putBuffer,
  readBuffer,
  startTree,
} from '../../src/stores/store.js';
import { systemClock } from '../../src/util/clock.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { textBlob } from '../helpers/data.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { collect } from '../helpers/streams.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const noLimits: EvictionPolicy = { max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: 0 };

function spec(blockSize = 64 * KIB, maxDecode = blockSize): CompressionSpec {
  return {
    kind: 'compression',
    backend: { kind: 'memory' },
    compression_algorithm: { lz4: { block_size: blockSize, max_decode_block_size: maxDecode } },
  };
}

/** A thin wrapper around a real store that counts the reads reaching it. */
class CountingStore implements StoreDriver {
  readonly kind = 'counting';
  reads: { offset: number; length: number | undefined; bytes: number }[] = [];
  constructor(readonly inner: StoreDriver) {}
  has(keys: readonly Digest[]) {
    return this.inner.has(keys);
  }
  update(key: Digest, source: ByteStream, size: number) {
    return this.inner.update(key, source, size);
  }
  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const read = { offset, length, bytes: 0 };
    this.reads.push(read);
    const inner = await this.inner.getPart(key, offset, length);
    return (async function* () {
      for await (const chunk of inner) {
        read.bytes += chunk.length;
        yield chunk;
      }
    })();
  }
  remove(key: Digest) {
    return this.inner.remove!(key);
  }
  entries(): AsyncIterable<StoreEntry> {
    return this.inner.entries!();
  }
}

let root: string;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ncache-compression-'));
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await rm(root, { recursive: true, force: true });
});

async function filesystem(name = 'fs'): Promise<FilesystemStore> {
  return (await startedFilesystemStore(closers, { dir: join(root, name), spec: { block_size: 1 } })).store;
}

function spoolDir(): string {
  return join(root);
}

const backends: [string, () => Promise<StoreDriver>][] = [
  ['memory', async () => new MemoryStore()],
  ['filesystem', () => filesystem()],
];

describe.each(backends)('CompressionStore over %s', (_name, makeBackend) => {
  it('round-trips empty, 1 byte, exactly one block, and multi-block values', async () => {
    const backend = await makeBackend();
    const store = new CompressionStore(spec(4 * KIB), backend, { logger: silentLogger }, { spoolDir: spoolDir() });
    for (const data of [Buffer.alloc(0), Buffer.from('x'), textBlob(4 * KIB), textBlob(4 * KIB + 1), textBlob(37 * KIB + 5), randomBytes(9 * KIB)]) {
      const key = digestOf(data);
      await putBuffer(store, key, data);
      expect(await hasOne(store, key)).toBe(data.length);
      const back = await readBuffer(store, key);
      expect(back.equals(data)).toBe(true);
    }
  });

  it('shrinks compressible text and stores random data raw at a small overhead', async () => {
    const backend = await makeBackend();
    const store = new CompressionStore(spec(), backend, {}, { spoolDir: spoolDir() });
    const textData = textBlob(1 * MIB);
    const textKey = digestOf(textData);
    await putBuffer(store, textKey, textData);
    const textStored = (await backend.has([textKey]))[0]!;
    expect(textStored).toBeLessThan(textData.length / 3);

    const random = randomBytes(1 * MIB);
    const randomKey = digestOf(random);
    await putBuffer(store, randomKey, random);
    const randomStored = (await backend.has([randomKey]))[0]!;
    expect(randomStored).toBeGreaterThanOrEqual(random.length);
    expect(randomStored - random.length).toBeLessThanOrEqual(HEADER_SIZE + 16 * INDEX_ENTRY_SIZE + 1);

    const stats = store.stats();
    expect(stats).toMatchObject({ kind: 'compression', logicalBytes: 2 * MIB, storedBytes: textStored + randomStored, blocksRaw: 16, blocksCompressed: 16 });
    expect(stats.ratio).toBeCloseTo((2 * MIB) / (textStored + randomStored), 6);
    expect((await readBuffer(store, randomKey)).equals(random)).toBe(true);
  });

  it('reports uncompressed sizes from has(), for CAS keys and for values whose size differs from the key', async () => {
    const backend = await makeBackend();
    const store = new CompressionStore(spec(KIB), backend, {}, { spoolDir: spoolDir() });
    const cas = textBlob(10 * KIB);
    const casKey = digestOf(cas);
    await putBuffer(store, casKey, cas);
    // An action-cache-like value: the key is the action's digest, the value something else.
    const actionKey = digestOf(Buffer.from('some action'));
    const acValue = textBlob(3 * KIB + 7, 5);
    await putBuffer(store, actionKey, acValue);
    const absent = digestOf(Buffer.from('absent'));
    expect(await store.has([casKey, actionKey, absent])).toEqual([cas.length, acValue.length, undefined]);
    expect(store.stats().headerReads).toBe(1);
    expect((await readBuffer(store, actionKey)).equals(acValue)).toBe(true);
    expect((await collect(await store.getPart(actionKey, 3 * KIB, 100))).equals(acValue.subarray(3 * KIB))).toBe(true);
    await expect(store.getPart(absent, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.getPart(absent, 5, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('commits nothing when the source is shorter or longer than declared', async () => {
    const backend = await makeBackend();
    const store = new CompressionStore(spec(KIB), backend, {}, { spoolDir: spoolDir() });
    const data = textBlob(5000);
    const key = digestOf(data);
    await expect(store.update(key, bufferStream(data.subarray(0, 4999)), 5000)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.update(key, bufferStream(data), 4999)).rejects.toThrow(/more than the declared 4999 bytes/);
    async function* failing(): ByteStream {
      yield data.subarray(0, 3000);
      throw new Error('client went away');
    }
    await expect(store.update(key, failing(), 5000)).rejects.toThrow('client went away');
    expect(await backend.has([key])).toEqual([undefined]);
    expect(await store.has([key])).toEqual([undefined]);
    expect(store.stats().logicalBytes).toBe(0);
  });

  it('checks read ranges against the uncompressed size', async () => {
    const backend = await makeBackend();
    const store = new CompressionStore(spec(KIB), backend, {}, { spoolDir: spoolDir() });
    const data = textBlob(3000);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    expect((await collect(await store.getPart(key, 3000))).length).toBe(0);
    expect((await collect(await store.getPart(key, 2990, 1000))).equals(data.subarray(2990))).toBe(true);
    expect((await collect(await store.getPart(key, 0, 0))).length).toBe(0);
    await expect(store.getPart(key, 3001)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
  });

  it('lists entries with logical and stored sizes, and removes through the backend', async () => {
    const backend = await makeBackend();
    const store = new CompressionStore(spec(KIB), backend, {}, { spoolDir: spoolDir() });
    const data = textBlob(8 * KIB);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const actionKey = digestOf(Buffer.from('action'));
    await putBuffer(store, actionKey, textBlob(500, 3));
    const listed = new Map<string, StoreEntry>();
    for await (const e of store.entries()) listed.set(digestKey(e.key), e);
    expect(listed.get(digestKey(key))).toMatchObject({ size: 8 * KIB, storedSize: (await backend.has([key]))[0] });
    expect(listed.get(digestKey(actionKey))).toMatchObject({ size: 500 });
    expect(await store.remove(key)).toBe(true);
    expect(await store.has([key])).toEqual([undefined]);
  });
});

describe('CompressionStore ranged reads', () => {
  it('fetches header + index, then only the blocks a range touches', async () => {
    const backend = new CountingStore(await filesystem());
    const bs = 4 * KIB;
    const store = new CompressionStore(spec(bs), backend, {}, { spoolDir: spoolDir() });
    const data = textBlob(20 * bs);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const storedSize = (await backend.has([key]))[0]!;
    const metaSize = HEADER_SIZE + 20 * INDEX_ENTRY_SIZE;

    const cases: [offset: number, length: number, blocks: number][] = [
      [bs, bs, 1], // exactly block 1
      [bs - 1, 2, 2], // straddles the edge of blocks 0 and 1
      [5 * bs, 1, 1], // first byte of block 5
      [6 * bs - 1, 1, 1], // last byte of block 5
      [19 * bs + 100, 5000, 1], // the tail, length past the end
      [3 * bs + 10, 3 * bs, 4], // blocks 3..6
    ];
    for (const [offset, length, blocks] of cases) {
      backend.reads = [];
      const decodedBefore = store.stats().blocksDecoded;
      const got = await collect(await store.getPart(key, offset, length));
      expect(got.equals(data.subarray(offset, offset + length))).toBe(true);
      expect(store.stats().blocksDecoded - decodedBefore).toBe(blocks);
      // One metadata read (sized from the key: header + index exactly), one read of the touched blocks.
      expect(backend.reads).toHaveLength(2);
      expect(backend.reads[0]).toMatchObject({ offset: 0, length: metaSize, bytes: metaSize });
      expect(backend.reads[1]!.bytes).toBeLessThanOrEqual(blocks * bs);
      expect(backend.reads[1]!.bytes).toBeLessThan(storedSize / 4);
    }

    // A whole read is one sequential backend read.
    backend.reads = [];
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
    expect(backend.reads).toEqual([{ offset: 0, length: undefined, bytes: storedSize }]);
  });

  it('reads metadata in a second request when the key does not predict the index size', async () => {
    const backend = new CountingStore(new MemoryStore());
    const store = new CompressionStore(spec(KIB), backend, {}, { spoolDir: spoolDir() });
    const key = digestOf(Buffer.from('small action key'));
    const value = textBlob(50 * KIB);
    await putBuffer(store, key, value);
    backend.reads = [];
    expect((await collect(await store.getPart(key, 40 * KIB, 10))).equals(value.subarray(40 * KIB, 40 * KIB + 10))).toBe(true);
    expect(backend.reads.map((r) => r.offset)).toEqual([0, expect.any(Number), expect.any(Number)]);
  });

  it('reads values written with another block size (up to max_decode_block_size)', async () => {
    const backend = new MemoryStore();
    const data = textBlob(300 * KIB);
    const key = digestOf(data);
    await putBuffer(new CompressionStore(spec(128 * KIB), backend), key, data);
    const reader = new CompressionStore(spec(64 * KIB, 128 * KIB), backend);
    expect((await readBuffer(reader, key)).equals(data)).toBe(true);
    expect((await collect(await reader.getPart(key, 130 * KIB, 200 * KIB))).equals(data.subarray(130 * KIB, 330 * KIB))).toBe(true);
    const strict = new CompressionStore(spec(64 * KIB), backend);
    await expect(readBuffer(strict, key)).rejects.toThrow('above this store\'s max_decode_block_size 65536');
  });
});

describe('CompressionStore with large values', () => {
  it('round-trips 40 MiB through a temp-file spool and removes the spool file', async () => {
    const backend = new CountingStore(await filesystem());
    const dir = join(root, 'spool');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    const store = new CompressionStore(spec(), backend, {}, { spoolDir: dir });
    // Mixed: mostly text, with incompressible stretches.
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++) parts.push(i % 5 === 4 ? randomBytes(MIB) : textBlob(MIB, i));
    const data = Buffer.concat(parts);
    const key = digestOf(data);
    await store.update(key, bufferStream(data, 16 * KIB), data.length);
    expect(store.stats().spilledUploads).toBe(1);
    expect(await readdir(dir)).toEqual([]);
    expect(await hasOne(store, key)).toBe(data.length);

    const hash = createHash('sha256');
    for await (const chunk of await store.getPart(key, 0)) hash.update(chunk);
    expect(hash.digest('hex')).toBe(key.hash);
    const part = await collect(await store.getPart(key, 17 * MIB + 123, 2 * MIB));
    expect(part.equals(data.subarray(17 * MIB + 123, 19 * MIB + 123))).toBe(true);
  });

  it('removes the spool file when the upload fails part way', async () => {
    const dir = join(root, 'spool');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    const backend = await filesystem();
    const store = new CompressionStore(spec(), backend, {}, { spoolDir: dir, spoolMemoryBytes: 64 * KIB });
    const data = randomBytes(2 * MIB);
    async function* failing(): ByteStream {
      yield data.subarray(0, MIB);
      throw new Error('source failed');
    }
    await expect(store.update(digestOf(data), failing(), data.length)).rejects.toThrow('source failed');
    expect(await readdir(dir)).toEqual([]);
    expect(await backend.has([digestOf(data)])).toEqual([undefined]);
  });
});

describe('CompressionStore over damaged files', () => {
  async function storedFile(blockSize = 4 * KIB) {
    const fs = await filesystem();
    const store = new CompressionStore(spec(blockSize), fs, { logger: silentLogger }, { spoolDir: spoolDir() });
    const data = textBlob(10 * blockSize);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const file = join(fs.contentPath, digestKey(key));
    return { store, data, key, file, size: (await stat(file)).size };
  }

  async function flip(file: string, at: number): Promise<void> {
    const fh = await open(file, 'r+');
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0]! ^= 0x41;
      await fh.write(b, 0, 1, at);
    } finally {
      await fh.close();
    }
  }

  it('a corrupted block is an error naming the blob and block, never garbage', async () => {
    const { store, key, file, size } = await storedFile();
    // Somewhere in the middle of the blocks.
    await flip(file, Math.floor((HEADER_SIZE + 10 * INDEX_ENTRY_SIZE + size) / 2));
    const received: Buffer[] = [];
    const err = await (async () => {
      for await (const chunk of await store.getPart(key, 0)) received.push(chunk);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(errorCode(err)).toBe('INTERNAL');
    expect(String(err)).toMatch(new RegExp(`compressed block \\d+ of ${key.hash}/${key.sizeBytes} failed to decode: checksum mismatch`));
    // Only blocks before the damaged one were handed on, and they were right.
    const prefix = Buffer.concat(received);
    expect(prefix.length).toBeLessThan(key.sizeBytes);
    expect(store.stats().damagedReads).toBeGreaterThan(0);
  });

  it('a corrupted header or index fails the read before any byte is returned', async () => {
    const { store, key, file } = await storedFile();
    await flip(file, HEADER_SIZE + 3);
    await expect(store.getPart(key, 0)).rejects.toThrow(`compressed value ${key.hash}/${key.sizeBytes} is damaged: block index checksum mismatch`);
    await expect(store.getPart(key, 100, 10)).rejects.toThrow('block index checksum mismatch');
  });

  it('a truncated file is an error for whole and ranged reads', async () => {
    const { store, key, file, size } = await storedFile();
    await truncate(file, size - 100);
    // The filesystem store answers from its index; reopening is not needed for the read to see the short file.
    await expect(readBuffer(store, key)).rejects.toThrow(/is damaged: the stored value ends early .*truncated/);
    await expect(collect(await store.getPart(key, key.sizeBytes - 10, 10))).rejects.toThrow(/ends early|truncated/);
  });

  it('an AC value with a damaged header reads as missing from has()', async () => {
    const fs = await filesystem();
    const store = new CompressionStore(spec(KIB), fs, { logger: silentLogger }, { spoolDir: spoolDir() });
    const key = digestOf(Buffer.from('an action'));
    await putBuffer(store, key, textBlob(2000));
    await flip(join(fs.contentPath, digestKey(key)), 5);
    expect(await store.has([key])).toEqual([undefined]);
  });
});

describe('compression in the factory and as a view', () => {
  it('builds from a config spec and reads a single tier through compressionView', async () => {
    const ctx = { logger: silentLogger, clock: systemClock, storeByName: () => { throw new Error('none'); } };
    const built = createStore({ ...spec(KIB), backend: { kind: 'memory' } }, ctx, 'stores[0]');
    expect(built.kind).toBe('compression');
    const data = textBlob(5 * KIB);
    const key = digestOf(data);
    await putBuffer(built, key, data);
    const tier = built.children!()[0]!;
    const view = compressionView(spec(KIB), tier, ctx);
    expect((await readBuffer(view, key)).equals(data)).toBe(true);
    expect((await readBuffer((built as CompressionStore).over(tier), key)).equals(data)).toBe(true);
    // Raw tier bytes are the compressed format, not the value.
    expect((await readBuffer(tier, key)).equals(data)).toBe(false);
  });

  it('works over fast_slow(memory, filesystem) as in the seed config, including from a fresh memory tier', async () => {
    const ctx = { logger: silentLogger, clock: systemClock, storeByName: () => { throw new Error('none'); } };
    const stackSpec: CompressionSpec = {
      ...spec(16 * KIB),
      backend: {
        kind: 'fast_slow',
        fast: { kind: 'memory' },
        slow: { kind: 'filesystem', content_path: join(root, 'slow', 'content'), temp_path: join(root, 'slow', 'tmp'), read_buffer_size: 0, block_size: 1, eviction_policy: noLimits },
        fast_direction: 'both',
        slow_direction: 'both',
      },
    };
    const open = async () => {
      const store = createStore(stackSpec, ctx, 'stores[0]');
      await startTree(store);
      closers.push(() => closeTree(store));
      return store;
    };
    const first = await open();
    const data = textBlob(100 * KIB);
    const key = digestOf(data);
    const actionKey = digestOf(Buffer.from('an action'));
    const acValue = textBlob(700, 9);
    await putBuffer(first, key, data);
    await putBuffer(first, actionKey, acValue);

    const second = await open(); // empty memory tier, same files
    expect(await second.has([key, actionKey])).toEqual([data.length, acValue.length]);
    expect((await collect(await second.getPart(key, 40 * KIB, 30 * KIB))).equals(data.subarray(40 * KIB, 70 * KIB))).toBe(true);
    expect((await readBuffer(second, key)).equals(data)).toBe(true);
    expect((await readBuffer(second, actionKey)).equals(acValue)).toBe(true);
  });
});
