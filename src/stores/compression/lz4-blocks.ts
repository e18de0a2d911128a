// The stored format of the compression store: a value cut into blocks of
// `block_size` bytes, each LZ4-compressed on its own (or kept raw when LZ4
// does not shrink it), behind a small header and a block index.
//
//   [header, 32 bytes][index, 8 bytes per block][block 0][block 1]...[pad, 0 or 1 byte]
//
// Header (little-endian):
//    0  magic "NCLZ"
//    4  u8  format version (1)
//    5  u8  algorithm (1 = LZ4 block)
//    6  u8  flags (bit 0: one padding byte ends the value)
//    7  u8  reserved (0)
//    8  u32 block_size
//   12  u32 block count (= ceil(logical size / block_size))
//   16  u64 logical (uncompressed) size
//   24  u32 CRC-32 of the index
//   28  u32 CRC-32 of header bytes 0..27
// Index entry per block: u32 stored length with bit 31 set when the block is
// raw, then u32 CRC-32 of the block's stored bytes. A compressed block is
// lz4-napi's raw block output: a u32 LE decoded length, then the LZ4 block.
//
// The index sits at the front, not in a footer: the compression store holds
// the whole encoded value before handing it to its backend anyway (the
// backend needs the exact size up front), so the index is known before the
// first byte is written. A whole read is then one sequential backend read,
// and a ranged read is one small read for header + index and one for the
// blocks it touches, with no size lookup first.
//
// The padding byte carries one bit in the stored length: the stored size is
// even exactly when the logical size equals the key's size (always so for
// CAS blobs). has() can then report the logical size of a CAS blob from the
// backend's size alone; only values whose size differs from their key (action
// cache entries) need their header read.
//
// LZ4 itself does not detect damage (a flipped byte can decode to the right
// number of wrong bytes), hence the CRC per block: every check failure is an
// error naming the blob, never bytes handed on.
import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import { errorMessage, internal } from '../../util/errors.js';
import type { ByteStream } from '../store.js';

// lz4-napi's native module costs ~11 MB of RSS once loaded, so it is loaded on
// the first compression or decode, not when the store factory is imported: a
// daemon whose config has no compression store never pays for it.
type Lz4 = typeof import('lz4-napi');
let lz4Module: Lz4 | undefined;
function lz4(): Lz4 {
  return (lz4Module ??= createRequire(import.meta.url)('lz4-napi') as Lz4);
}

export const HEADER_SIZE = 32;
export const INDEX_ENTRY_SIZE = 8;
export const FORMAT_VERSION = 1;
export const ALGORITHM_LZ4_BLOCK = 1;
/** Stored lengths must fit in 31 bits (bit 31 is the raw flag); LZ4 blocks top out near 2 GiB. */
export const MAX_BLOCK_SIZE = 1 << 30;
const MAGIC = Buffer.from('NCLZ', 'latin1');
const FLAG_PADDED = 1;
const RAW_BIT = 0x8000_0000;
/** lz4-napi's size prefix in front of every compressed block. */
const LZ4_PREFIX = 4;

export interface BlockEntry {
  /** Bytes the block occupies in the stored value. */
  readonly storedLength: number;
  /** Stored as is (LZ4 did not shrink it). */
  readonly raw: boolean;
  /** CRC-32 of the stored bytes. */
  readonly crc: number;
}

export interface EncodedBlock {
  readonly entry: BlockEntry;
  readonly stored: Buffer;
  /** Uncompressed bytes in the block. */
  readonly length: number;
}

export interface FormatHeader {
  readonly blockSize: number;
  readonly blockCount: number;
  readonly logicalSize: number;
  readonly padded: boolean;
}

/** Header and index of a stored value, with where each block starts. */
export interface BlobLayout extends FormatHeader {
  readonly index: readonly BlockEntry[];
  /** offsets[i] = stored offset of block i; offsets[blockCount] = end of the last block. */
  readonly offsets: Float64Array;
  /** Bytes of the whole stored value. */
  readonly storedSize: number;
}

/** The error for anything wrong with a stored value; `blob` is "<hash>/<size>". */
export function damaged(blob: string, problem: string): Error {
  return internal(`compressed value ${blob} is damaged: ${problem}`);
}

export function blockCountFor(logicalSize: number, blockSize: number): number {
  return Math.ceil(logicalSize / blockSize);
}

/** Uncompressed length of block i. */
export function blockLength(layout: FormatHeader, i: number): number {
  return Math.min(layout.blockSize, layout.logicalSize - i * layout.blockSize);
}

// ---------------------------------------------------------------------------
// Writing

/** Compresses one block, keeping it raw when LZ4 does not make it smaller. `data` is kept (callers hand over a buffer they will not reuse). */
export function encodeBlock(data: Buffer): EncodedBlock {
  return encoded(data, lz4().compressSync(data));
}

/** encodeBlock on the libuv thread pool, so several blocks compress at once and the event loop stays free. */
export async function encodeBlockAsync(data: Buffer): Promise<EncodedBlock> {
  return encoded(data, await lz4().compress(data));
}

function encoded(data: Buffer, compressed: Buffer): EncodedBlock {
  if (compressed.length < data.length) {
    return { stored: compressed, length: data.length, entry: { storedLength: compressed.length, raw: false, crc: crc32(compressed) } };
  }
  return { stored: data, length: data.length, entry: { storedLength: data.length, raw: true, crc: crc32(data) } };
}

/**
 * Cuts a byte stream into blocks of `blockSize`. Blocks lying whole inside one
 * incoming chunk are views of it (sources hand over fresh buffers); the rest
 * are gathered into a new buffer each, since they outlive this loop.
 */
export async function* splitBlocks(source: ByteStream, blockSize: number): AsyncGenerator<Buffer> {
  let gather: Buffer | undefined;
  let filled = 0;
  for await (const chunk of source) {
    let pos = 0;
    while (pos < chunk.length) {
      if (filled === 0 && chunk.length - pos >= blockSize) {
        yield chunk.subarray(pos, pos + blockSize);
        pos += blockSize;
        continue;
      }
      gather ??= Buffer.allocUnsafe(blockSize);
      const copied = chunk.copy(gather, filled, pos, Math.min(chunk.length, pos + blockSize - filled));
      filled += copied;
      pos += copied;
      if (filled === blockSize) {
        yield gather;
        gather = undefined;
        filled = 0;
      }
    }
  }
  if (filled > 0) yield gather!.subarray(0, filled);
}

/** Splits and encodes a stream block by block (synchronously; the store pipelines encodeBlockAsync instead). */
export async function* encodeBlocks(source: ByteStream, blockSize: number): AsyncGenerator<EncodedBlock> {
  for await (const block of splitBlocks(source, blockSize)) yield encodeBlock(block);
}

/**
 * Header + index for a value, and whether it ends with a padding byte (see the
 * parity rule above). `blocksBytes` is the sum of the stored block lengths.
 */
export function encodeHead(
  header: { blockSize: number; logicalSize: number; keySize: number },
  index: readonly BlockEntry[],
  blocksBytes: number,
): { head: Buffer; padded: boolean; storedSize: number } {
  const indexBytes = Buffer.allocUnsafe(index.length * INDEX_ENTRY_SIZE);
  index.forEach((entry, i) => {
    indexBytes.writeUInt32LE((entry.raw ? RAW_BIT : 0) + entry.storedLength, i * INDEX_ENTRY_SIZE);
    indexBytes.writeUInt32LE(entry.crc, i * INDEX_ENTRY_SIZE + 4);
  });
  const natural = HEADER_SIZE + indexBytes.length + blocksBytes;
  const wantEven = header.logicalSize === header.keySize;
  const padded = (natural % 2 === 0) !== wantEven;
  const head = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(head, 0);
  head.writeUInt8(FORMAT_VERSION, 4);
  head.writeUInt8(ALGORITHM_LZ4_BLOCK, 5);
  head.writeUInt8(padded ? FLAG_PADDED : 0, 6);
  head.writeUInt32LE(header.blockSize, 8);
  head.writeUInt32LE(index.length, 12);
  head.writeBigUInt64LE(BigInt(header.logicalSize), 16);
  head.writeUInt32LE(crc32(indexBytes), 24);
  head.writeUInt32LE(crc32(head.subarray(0, 28)), 28);
  return { head: Buffer.concat([head, indexBytes]), padded, storedSize: natural + (padded ? 1 : 0) };
}

/**
 * The logical size a stored value of `storedSize` bytes has under `keySize`,
 * when the parity rule tells it without reading; undefined = read the header.
 */
export function logicalSizeFromStoredSize(keySize: number, storedSize: number): number | undefined {
  return storedSize % 2 === 0 ? keySize : undefined;
}

// ---------------------------------------------------------------------------
// Reading

/** Parses and checks the fixed header. `maxDecodeBlockSize` refuses values whose blocks would need more memory than configured. */
export function parseHeader(buf: Buffer, blob: string, maxDecodeBlockSize: number): FormatHeader & { indexCrc: number } {
  if (buf.length < HEADER_SIZE) throw damaged(blob, `only ${buf.length} bytes, shorter than its ${HEADER_SIZE}-byte header`);
  if (!buf.subarray(0, 4).equals(MAGIC)) throw damaged(blob, 'not in ncache\'s compressed format (bad magic)');
  if (crc32(buf.subarray(0, 28)) !== buf.readUInt32LE(28)) throw damaged(blob, 'header checksum mismatch');
  const version = buf.readUInt8(4);
  if (version !== FORMAT_VERSION) {
    throw damaged(blob, `format version ${version}; this ncache reads version ${FORMAT_VERSION}`);
  }
  const algorithm = buf.readUInt8(5);
  if (algorithm !== ALGORITHM_LZ4_BLOCK) throw damaged(blob, `unknown algorithm ${algorithm}`);
  const blockSize = buf.readUInt32LE(8);
  const blockCount = buf.readUInt32LE(12);
  const logical = buf.readBigUInt64LE(16);
  if (logical > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged(blob, `logical size ${logical} is out of range`);
  const logicalSize = Number(logical);
  if (blockSize < 1 || blockSize > MAX_BLOCK_SIZE) throw damaged(blob, `block size ${blockSize} is out of range`);
  if (blockSize > maxDecodeBlockSize) {
    throw damaged(blob, `written with block_size ${blockSize}, above this store's max_decode_block_size ${maxDecodeBlockSize}`);
  }
  if (blockCount !== blockCountFor(logicalSize, blockSize)) {
    throw damaged(blob, `${blockCount} blocks cannot hold ${logicalSize} bytes in blocks of ${blockSize}`);
  }
  return { blockSize, blockCount, logicalSize, padded: (buf.readUInt8(6) & FLAG_PADDED) !== 0, indexCrc: buf.readUInt32LE(24) };
}

/** Parses and checks the index that follows the header. */
export function parseIndex(buf: Buffer, header: FormatHeader & { indexCrc: number }, blob: string): BlobLayout {
  const expected = header.blockCount * INDEX_ENTRY_SIZE;
  if (buf.length !== expected) throw damaged(blob, `block index is ${buf.length} bytes, expected ${expected}`);
  if (crc32(buf) !== header.indexCrc) throw damaged(blob, 'block index checksum mismatch');
  const index: BlockEntry[] = new Array(header.blockCount);
  const offsets = new Float64Array(header.blockCount + 1);
  let at = HEADER_SIZE + expected;
  for (let i = 0; i < header.blockCount; i++) {
    const word = buf.readUInt32LE(i * INDEX_ENTRY_SIZE);
    const raw = word >= RAW_BIT;
    const storedLength = raw ? word - RAW_BIT : word;
    const length = blockLength(header, i);
    // A raw block is exactly its data; a compressed one is a prefix plus at least a token, and smaller than raw.
    if (raw ? storedLength !== length : storedLength <= LZ4_PREFIX || storedLength >= length) {
      throw damaged(blob, `block ${i} has an impossible stored length ${storedLength} for ${length} bytes`);
    }
    index[i] = { storedLength, raw, crc: buf.readUInt32LE(i * INDEX_ENTRY_SIZE + 4) };
    offsets[i] = at;
    at += storedLength;
  }
  offsets[header.blockCount] = at;
  const { indexCrc: _unused, ...plain } = header;
  return { ...plain, index, offsets, storedSize: at + (header.padded ? 1 : 0) };
}

/** Checks and decodes block i from its stored bytes. */
export function decodeBlock(layout: BlobLayout, i: number, stored: Buffer, blob: string): Buffer {
  const fail = checkStoredBlock(layout, i, stored, blob);
  if (fail === undefined) return stored;
  let out: Buffer;
  try {
    out = lz4().uncompressSync(stored);
  } catch (err) {
    throw fail(errorMessage(err));
  }
  return checkDecoded(out, fail, blockLength(layout, i));
}

/** decodeBlock with the LZ4 work on the libuv thread pool (checks before and after as there). */
export async function decodeBlockAsync(layout: BlobLayout, i: number, stored: Buffer, blob: string): Promise<Buffer> {
  const fail = checkStoredBlock(layout, i, stored, blob);
  if (fail === undefined) return stored;
  let out: Buffer;
  try {
    out = await lz4().uncompress(stored);
  } catch (err) {
    throw fail(errorMessage(err));
  }
  return checkDecoded(out, fail, blockLength(layout, i));
}

/**
 * Checks a block's stored bytes: length, checksum and, for a compressed block,
 * its size prefix (before decoding: the decoder sizes its output from it).
 * Returns undefined for a raw block (its bytes are the data), else the error
 * maker for the decode step.
 */
function checkStoredBlock(layout: BlobLayout, i: number, stored: Buffer, blob: string): ((why: string) => Error) | undefined {
  const entry = layout.index[i]!;
  const length = blockLength(layout, i);
  const fail = (why: string) => internal(`compressed block ${i} of ${blob} failed to decode: ${why}`);
  if (stored.length !== entry.storedLength) throw fail(`got ${stored.length} stored bytes, expected ${entry.storedLength}`);
  if (crc32(stored) !== entry.crc) throw fail('checksum mismatch (the stored bytes are damaged)');
  if (entry.raw) return undefined;
  const declared = stored.readUInt32LE(0);
  if (declared !== length) throw fail(`block declares ${declared} bytes, expected ${length}`);
  return fail;
}

function checkDecoded(out: Buffer, fail: (why: string) => Error, length: number): Buffer {
  if (out.length !== length) throw fail(`decoded ${out.length} bytes, expected ${length}`);
  return out;
}

/**
 * Reads exact byte counts from a chunk stream (header, index, then each block
 * in turn), copying only when a request spans chunks.
 */
export class ExactReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private closed = false;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly short: (wanted: number, got: number) => Error,
  ) {}

  static of(stream: ByteStream, short: (wanted: number, got: number) => Error): ExactReader {
    return new ExactReader(stream[Symbol.asyncIterator](), short);
  }

  /** Up to n bytes: fewer only when the stream ends. */
  async readUpTo(n: number): Promise<Buffer> {
    while (this.buffered < n && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    return this.take(Math.min(n, this.buffered));
  }

  /** Exactly n bytes, or the `short` error. */
  async read(n: number): Promise<Buffer> {
    const got = await this.readUpTo(n);
    if (got.length < n) throw this.short(n, got.length);
    return got;
  }

  /** True when nothing follows. */
  async atEnd(): Promise<boolean> {
    return (await this.readUpTo(1)).length === 0;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    this.buffered -= n;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return out;
  }

  /** Releases the source (file handle, HTTP body) when not read to its end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.chunks.length = 0;
    if (!this.ended) await this.source.return?.();
  }
}
