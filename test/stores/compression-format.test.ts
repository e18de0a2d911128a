import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type BlockEntry,
  ExactReader,
  HEADER_SIZE,
  INDEX_ENTRY_SIZE,
  blockCountFor,
  decodeBlock,
  encodeBlocks,
  encodeHead,
  logicalSizeFromStoredSize,
  parseHeader,
  parseIndex,
} from '../../src/stores/compression/lz4-blocks.js';
import { type ByteStream, bufferStream } from '../../src/stores/store.js';
import { textBlob } from '../helpers/data.js';

const BLOB = 'abc/123';

async function* chunked(data: Buffer, sizes: number[]): ByteStream {
  let pos = 0;
  for (let i = 0; pos < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(pos, pos + n);
    pos += n;
  }
}

/** Encodes a whole buffer in memory, as the store does through its spool. */
async function encodeAll(data: Buffer, blockSize: number, keySize = data.length, source?: ByteStream) {
  const index: BlockEntry[] = [];
  const blocks: Buffer[] = [];
  for await (const block of encodeBlocks(source ?? bufferStream(data), blockSize)) {
    index.push(block.entry);
    blocks.push(Buffer.from(block.stored));
  }
  const blocksBytes = blocks.reduce((n, b) => n + b.length, 0);
  const { head, padded, storedSize } = encodeHead({ blockSize, logicalSize: data.length, keySize }, index, blocksBytes);
  const stored = Buffer.concat([head, ...blocks, padded ? Buffer.alloc(1) : Buffer.alloc(0)]);
  expect(stored.length).toBe(storedSize);
  return { stored, index };
}

/** Decodes a whole stored value with the format's own parsers. */
function decodeAll(stored: Buffer, maxDecode = 1 << 30): Buffer {
  const header = parseHeader(stored.subarray(0, HEADER_SIZE), BLOB, maxDecode);
  const layout = parseIndex(stored.subarray(HEADER_SIZE, HEADER_SIZE + header.blockCount * INDEX_ENTRY_SIZE), header, BLOB);
  expect(layout.storedSize).toBe(stored.length);
  const out: Buffer[] = [];
  for (let i = 0; i < layout.blockCount; i++) {
    out.push(decodeBlock(layout, i, stored.subarray(layout.offsets[i]!, layout.offsets[i + 1]!), BLOB));
  }
  return Buffer.concat(out);
}

describe('lz4 block format', () => {
  it('round-trips sizes around the block size, however the source is chunked', async () => {
    const bs = 1024;
    for (const size of [0, 1, bs - 1, bs, bs + 1, 3 * bs, 5 * bs + 17]) {
      const data = textBlob(size);
      for (const sizes of [[size || 1], [1], [7, 1000, 3], [bs], [2 * bs + 5]]) {
        const { stored, index } = await encodeAll(data, bs, size, chunked(data, sizes));
        expect(index).toHaveLength(blockCountFor(size, bs));
        expect(decodeAll(stored).equals(data)).toBe(true);
      }
    }
  });

  it('shrinks text and stores incompressible blocks raw at the cost of their index entry', async () => {
    const compressible = await encodeAll(textBlob(64 * 1024), 4096);
    expect(compressible.index.every((e) => !e.raw)).toBe(true);
    expect(compressible.stored.length).toBeLessThan(64 * 1024 / 4);

    const random = randomBytes(64 * 1024);
    const incompressible = await encodeAll(random, 4096);
    expect(incompressible.index.every((e) => e.raw)).toBe(true);
    // Header + 8 bytes per block + at most one padding byte.
    expect(incompressible.stored.length - random.length).toBeLessThanOrEqual(HEADER_SIZE + 16 * INDEX_ENTRY_SIZE + 1);
    expect(decodeAll(incompressible.stored).equals(random)).toBe(true);
  });

  it('makes the stored size even exactly when the logical size is the key size', async () => {
    for (const size of [0, 1, 2, 100, 4097]) {
      const data = textBlob(size);
      const asCas = await encodeAll(data, 1024, size);
      expect(asCas.stored.length % 2).toBe(0);
      expect(logicalSizeFromStoredSize(size, asCas.stored.length)).toBe(size);
      const asAc = await encodeAll(data, 1024, size + 3);
      expect(asAc.stored.length % 2).toBe(1);
      expect(logicalSizeFromStoredSize(size + 3, asAc.stored.length)).toBeUndefined();
      expect(decodeAll(asAc.stored).equals(data)).toBe(true);
    }
  });

  it('detects a flipped byte in a compressed block that LZ4 alone would decode to garbage', async () => {
    const data = textBlob(8192);
    const { stored } = await encodeAll(data, 4096);
    const header = parseHeader(stored, BLOB, 1 << 30);
    const layout = parseIndex(stored.subarray(HEADER_SIZE, HEADER_SIZE + header.blockCount * INDEX_ENTRY_SIZE), header, BLOB);
    const damagedCopy = Buffer.from(stored);
    damagedCopy[layout.offsets[1]! + 10]! ^= 0x20;
    expect(() => decodeAll(damagedCopy)).toThrow(`compressed block 1 of ${BLOB} failed to decode: checksum mismatch`);
  });

  it('checks the size prefix before decoding, so a lying block cannot make the decoder allocate', async () => {
    const data = textBlob(4096);
    const { stored, index } = await encodeAll(data, 4096);
    const block = Buffer.from(stored.subarray(HEADER_SIZE + INDEX_ENTRY_SIZE, HEADER_SIZE + INDEX_ENTRY_SIZE + index[0]!.storedLength));
    block.writeUInt32LE(0x7fff_ffff, 0);
    // Checksums resealed as a writer would: only the prefix lies.
    const { head, padded } = encodeHead({ blockSize: 4096, logicalSize: 4096, keySize: 4096 }, [{ ...index[0]!, crc: crc32(block) }], block.length);
    const forged = Buffer.concat([head, block, Buffer.alloc(padded ? 1 : 0)]);
    expect(() => decodeAll(forged)).toThrow(`compressed block 0 of ${BLOB} failed to decode: block declares 2147483647 bytes, expected 4096`);
  });

  it('rejects damaged headers and indexes with a message naming the blob', async () => {
    const { stored } = await encodeAll(textBlob(5000), 1024);
    const flip = (at: number) => {
      const copy = Buffer.from(stored);
      copy[at]! ^= 1;
      return copy;
    };
    expect(() => decodeAll(flip(0))).toThrow(`compressed value ${BLOB} is damaged: not in ncache's compressed format (bad magic)`);
    expect(() => decodeAll(flip(9))).toThrow('header checksum mismatch');
    expect(() => decodeAll(flip(HEADER_SIZE + 2))).toThrow('block index checksum mismatch');
    expect(() => parseHeader(stored.subarray(0, 10), BLOB, 1 << 30)).toThrow('only 10 bytes, shorter than its 32-byte header');
    expect(() => parseHeader(stored, BLOB, 512)).toThrow('written with block_size 1024, above this store\'s max_decode_block_size 512');
  });

  it('rejects index entries that cannot describe their block', async () => {
    const index: BlockEntry[] = [{ storedLength: 1000, raw: true, crc: 0 }];
    const { head } = encodeHead({ blockSize: 1024, logicalSize: 1024, keySize: 1024 }, index, 1000);
    const header = parseHeader(head, BLOB, 1 << 30);
    expect(() => parseIndex(head.subarray(HEADER_SIZE), header, BLOB)).toThrow('block 0 has an impossible stored length 1000 for 1024 bytes');
  });
});

describe('ExactReader', () => {
  it('hands out exact byte counts across chunk boundaries and reports a short stream', async () => {
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const reader = ExactReader.of(chunked(data, [3, 1, 5]), (w, g) => new Error(`short: wanted ${w}, got ${g}`));
    expect((await reader.read(2)).toString()).toBe('ab');
    expect((await reader.read(7)).toString()).toBe('cdefghi');
    expect((await reader.read(0)).length).toBe(0);
    expect((await reader.read(10)).toString()).toBe('jklmnopqrs');
    await expect(reader.read(10)).rejects.toThrow('short: wanted 10, got 7');
    expect(await reader.atEnd()).toBe(true);
  });

  it('releases an unfinished source on close', async () => {
    let released = false;
    async function* source(): ByteStream {
      try {
        for (;;) yield Buffer.alloc(10);
      } finally {
        released = true;
      }
    }
    const reader = ExactReader.of(source(), () => new Error('short'));
    await reader.read(15);
    await reader.close();
    expect(released).toBe(true);
  });
});
