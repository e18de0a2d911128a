// Stores values LZ4-compressed in independent blocks (format:
// compression/lz4-blocks.ts), so a ranged read decodes only the blocks it
// touches. The layers above see uncompressed bytes and sizes only.
import { tmpdir } from 'node:os';
import type { CompressionSpec } from '../config/types.js';
import { type Digest, formatDigest } from '../util/digest.js';
import { errorCode, errorMessage, invalidArgument, isNotFound } from '../util/errors.js';
import { mapConcurrent } from '../util/concurrency.js';
import { type Logger, silentLogger } from '../util/logger.js';
import {
  type BlobLayout,
  ExactReader,
  HEADER_SIZE,
  INDEX_ENTRY_SIZE,
  MAX_BLOCK_SIZE,
  type BlockEntry,
  blockCountFor,
  damaged,
  type EncodedBlock,
  decodeBlock,
  decodeBlockAsync,
  encodeBlock,
  encodeBlockAsync,
  splitBlocks,
  encodeHead,
  logicalSizeFromStoredSize,
  parseHeader,
  parseIndex,
} from './compression/lz4-blocks.js';
import { Spool } from './compression/spool.js';
import type { StoreContext } from './store-context.js';
import { type ByteStream, type StoreDriver, type StoreEntry, checkRange, exactSize } from './store.js';
import type { CompressionCounters, CompressionStats } from './store-stats.js';

/** Encoded bytes an upload keeps in memory before spooling to a temp file. */
export const DEFAULT_SPOOL_MEMORY_BYTES = 8 << 20;
/** Header reads has() runs at once (values whose size differs from their key). */
const HEADER_READ_CONCURRENCY = 16;
/** Blocks compressed or decoded at once on the thread pool, per upload or read. */
const CODEC_WINDOW = 4;
/** The first metadata read guesses the index size from the key; never more than this. */
const MAX_GUESSED_INDEX_BYTES = 1 << 20;

export interface CompressionStoreOptions {
  /** Where large uploads spool (default: os.tmpdir()). */
  readonly spoolDir?: string;
  /** Encoded bytes kept in memory per upload before spooling (default 8 MiB). */
  readonly spoolMemoryBytes?: number;
  /** Where the spec sits in the config, for messages (e.g. "stores[0].compression"). */
  readonly path?: string;
}

export class CompressionStore implements StoreDriver {
  readonly kind = 'compression';
  private readonly blockSize: number;
  private readonly maxDecodeBlockSize: number;
  private readonly logger: Logger;
  private readonly spoolDir: string;
  private readonly spoolMemoryBytes: number;
  private readonly counters: CompressionCounters = {
    logicalBytes: 0,
    storedBytes: 0,
    blocksRaw: 0,
    blocksCompressed: 0,
    spilledUploads: 0,
    logicalBytesRead: 0,
    blocksDecoded: 0,
    damagedReads: 0,
    headerReads: 0,
  };

  constructor(
    private readonly spec: CompressionSpec,
    private readonly backend: StoreDriver,
    private readonly ctx: Partial<Pick<StoreContext, 'logger'>> = {},
    private readonly options: CompressionStoreOptions = {},
  ) {
    const { block_size, max_decode_block_size } = spec.compression_algorithm.lz4;
    if (!Number.isSafeInteger(block_size) || block_size < 1 || block_size > MAX_BLOCK_SIZE) {
      const at = `${options.path ?? 'compression'}.compression_algorithm.lz4.block_size`;
      throw invalidArgument(`${at}: must be between 1 and ${MAX_BLOCK_SIZE} bytes, got ${block_size}`);
    }
    this.blockSize = block_size;
    this.maxDecodeBlockSize = Math.max(block_size, max_decode_block_size);
    this.logger = ctx.logger ?? silentLogger;
    this.spoolDir = options.spoolDir ?? tmpdir();
    this.spoolMemoryBytes = options.spoolMemoryBytes ?? DEFAULT_SPOOL_MEMORY_BYTES;
  }

  /** The same settings over another backend (maintenance reads one tier through it). */
  over(backend: StoreDriver): CompressionStore {
    return new CompressionStore(this.spec, backend, this.ctx, this.options);
  }

  children(): readonly StoreDriver[] {
    return [this.backend];
  }

  // -------------------------------------------------------------------------
  // Existence

  /**
   * Logical sizes. The stored size's parity says whether the logical size is
   * the key's (see lz4-blocks.ts), so CAS blobs cost nothing beyond the
   * backend's own answer; the others (action-cache values) cost one small
   * header read each. A value whose header is damaged reads as missing, so the
   * client uploads it again.
   */
  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const stored = await this.backend.has(keys);
    const out = stored.map((size, i) => (size === undefined ? undefined : logicalSizeFromStoredSize(keys[i]!.sizeBytes, size)));
    const unknown = out.flatMap((size, i) => (size === undefined && stored[i] !== undefined ? [i] : []));
    if (unknown.length === 0) return out;
    await mapConcurrent(unknown, HEADER_READ_CONCURRENCY, async (i) => {
      out[i] = await this.logicalSizeFromHeader(keys[i]!);
    });
    return out;
  }

  private async logicalSizeFromHeader(key: Digest): Promise<number | undefined> {
    const blob = formatDigest(key);
    this.counters.headerReads += 1;
    try {
      const head = await this.readUpTo(key, 0, HEADER_SIZE);
      return parseHeader(head, blob, this.maxDecodeBlockSize).logicalSize;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      this.counters.damagedReads += 1;
      this.logger.warn(`compression: reporting ${blob} as missing: ${errorMessage(err)}`);
      return undefined;
    }
  }

  // -------------------------------------------------------------------------
  // Writing

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    const blob = formatDigest(key);
    const spool = new Spool(this.spoolDir, this.spoolMemoryBytes);
    try {
      const index: BlockEntry[] = [];
      let raw = 0;
      const keep = async (block: EncodedBlock) => {
        index.push(block.entry);
        if (block.entry.raw) raw += 1;
        await spool.append(block.stored);
      };
      // A few blocks compress at once on the thread pool (a second core, and a free event loop);
      // a value of one block is compressed in place, sparing the hop.
      const inFlight: Promise<EncodedBlock>[] = [];
      try {
        for await (const data of splitBlocks(exactSize(source, size, `compression store update of ${blob}`), this.blockSize)) {
          if (size <= this.blockSize) {
            await keep(encodeBlock(data));
            continue;
          }
          const pending = encodeBlockAsync(data);
          pending.catch(() => {}); // observed below; never unhandled if the source fails first
          inFlight.push(pending);
          if (inFlight.length >= CODEC_WINDOW) await keep(await inFlight.shift()!);
        }
        while (inFlight.length > 0) await keep(await inFlight.shift()!);
      } finally {
        await Promise.allSettled(inFlight);
      }
      const { head, padded, storedSize } = encodeHead(
        { blockSize: this.blockSize, logicalSize: size, keySize: key.sizeBytes },
        index,
        spool.bytes,
      );
      await this.backend.update(key, encoded(head, spool, padded), storedSize);
      const c = this.counters;
      c.logicalBytes += size;
      c.storedBytes += storedSize;
      c.blocksRaw += raw;
      c.blocksCompressed += index.length - raw;
      if (spool.spilled) c.spilledUploads += 1;
    } finally {
      await spool.dispose();
    }
  }

  // -------------------------------------------------------------------------
  // Reading

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const blob = formatDigest(key);
    // A read from the start to (at least) the key's size is one sequential backend read.
    if (offset === 0 && (length === undefined || length >= key.sizeBytes)) return this.readFromStart(key, blob, length);
    const layout = await this.readLayout(key, blob);
    const { start, end } = checkRange(`compression store read of ${blob}`, layout.logicalSize, offset, length);
    if (start === end) return empty();
    const first = Math.floor(start / layout.blockSize);
    const last = Math.floor((end - 1) / layout.blockSize);
    const from = layout.offsets[first]!;
    const to = layout.offsets[last + 1]!;
    let blocks: ByteStream;
    try {
      blocks = await this.backend.getPart(key, from, to - from);
    } catch (err) {
      // The index points past the stored end: the value was cut short.
      if (errorCode(err) === 'OUT_OF_RANGE') throw this.damage(this.truncated(blob)(to - from, 0));
      throw err;
    }
    const reader = ExactReader.of(blocks, this.truncated(blob));
    return this.decodeRange(reader, layout, blob, first, last, start, end, false);
  }

  private async readFromStart(key: Digest, blob: string, length: number | undefined): Promise<ByteStream> {
    const reader = ExactReader.of(await this.backend.getPart(key, 0), this.truncated(blob));
    try {
      const head = await this.readStored(reader, HEADER_SIZE);
      const parsed = this.checked(() => parseHeader(head, blob, this.maxDecodeBlockSize));
      const indexBytes = await this.readStored(reader, parsed.blockCount * INDEX_ENTRY_SIZE);
      const layout = this.checked(() => parseIndex(indexBytes, parsed, blob));
      const { end } = checkRange(`compression store read of ${blob}`, layout.logicalSize, 0, length);
      if (end === 0) {
        if (layout.blockCount === 0) await this.expectEnd(reader, layout, blob);
        await reader.close();
        return empty();
      }
      const last = Math.floor((end - 1) / layout.blockSize);
      return this.decodeRange(reader, layout, blob, 0, last, 0, end, end === layout.logicalSize);
    } catch (err) {
      await reader.close();
      throw err;
    }
  }

  /** Header and index through one ranged read sized from the key (a second when the guess was short). */
  private async readLayout(key: Digest, blob: string): Promise<BlobLayout> {
    const guessedIndex = Math.min(MAX_GUESSED_INDEX_BYTES, blockCountFor(key.sizeBytes, this.blockSize) * INDEX_ENTRY_SIZE);
    let meta = await this.readUpTo(key, 0, HEADER_SIZE + guessedIndex);
    const header = this.checked(() => parseHeader(meta, blob, this.maxDecodeBlockSize));
    const metaSize = HEADER_SIZE + header.blockCount * INDEX_ENTRY_SIZE;
    if (meta.length < metaSize) {
      const rest = await this.readUpTo(key, meta.length, metaSize - meta.length);
      meta = Buffer.concat([meta, rest]);
      if (meta.length < metaSize) throw this.damage(this.truncated(blob)(metaSize, meta.length));
    }
    return this.checked(() => parseIndex(meta.subarray(HEADER_SIZE, metaSize), header, blob));
  }

  /** Up to `length` bytes from the backend at `offset` (fewer when the value ends first). */
  private async readUpTo(key: Digest, offset: number, length: number): Promise<Buffer> {
    const reader = ExactReader.of(await this.backend.getPart(key, offset, length), this.truncated(formatDigest(key)));
    try {
      return await reader.readUpTo(length);
    } finally {
      await reader.close();
    }
  }

  /** Decodes blocks first..last one at a time, yielding bytes [start, end) of the value. */
  private async *decodeRange(
    reader: ExactReader,
    layout: BlobLayout,
    blob: string,
    first: number,
    last: number,
    start: number,
    end: number,
    toTheEnd: boolean,
  ): ByteStream {
    // Blocks decode on the thread pool a few at a time, in order, while the next ones are read;
    // a single block decodes in place.
    const inFlight: { i: number; data: Promise<Buffer> }[] = [];
    const emit = async (next: { i: number; data: Promise<Buffer> }): Promise<Buffer> => {
      let data: Buffer;
      try {
        data = await next.data;
      } catch (err) {
        throw this.damage(err);
      }
      this.counters.blocksDecoded += 1;
      const blockStart = next.i * layout.blockSize;
      const from = Math.max(0, start - blockStart);
      const to = Math.min(data.length, end - blockStart);
      this.counters.logicalBytesRead += to - from;
      return from === 0 && to === data.length ? data : data.subarray(from, to);
    };
    try {
      for (let i = first; i <= last; i++) {
        const stored = await this.readStored(reader, layout.index[i]!.storedLength);
        const data = first === last ? Promise.resolve(this.checked(() => decodeBlock(layout, i, stored, blob))) : decodeBlockAsync(layout, i, stored, blob);
        data.catch(() => {}); // observed in emit(); never unhandled if the reader fails first
        inFlight.push({ i, data });
        if (inFlight.length >= CODEC_WINDOW) yield await emit(inFlight.shift()!);
      }
      while (inFlight.length > 0) yield await emit(inFlight.shift()!);
      if (toTheEnd) await this.expectEnd(reader, layout, blob);
    } finally {
      await Promise.allSettled(inFlight.map((b) => b.data));
      await reader.close();
    }
  }

  /** After the last block of a whole read: the padding byte, then nothing. */
  private async expectEnd(reader: ExactReader, layout: BlobLayout, blob: string): Promise<void> {
    if (layout.padded) await this.readStored(reader, 1);
    if (!(await reader.atEnd())) throw this.damage(damaged(blob, `bytes follow its last block (expected ${layout.storedSize} bytes)`));
  }

  private truncated(blob: string) {
    return (wanted: number, got: number) => damaged(blob, `the stored value ends early (wanted ${wanted} more bytes, got ${got}): truncated`);
  }

  /** Exactly n stored bytes; a value that ends early counts as damaged. */
  private readStored(reader: ExactReader, n: number): Promise<Buffer> {
    return reader.read(n).catch((err: unknown) => {
      throw this.damage(err);
    });
  }

  /** Runs a format check, counting a failure as a damaged read. */
  private checked<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.damage(err);
    }
  }

  private damage(err: unknown): unknown {
    this.counters.damagedReads += 1;
    return err;
  }

  // -------------------------------------------------------------------------
  // Listing and maintenance

  async remove(key: Digest): Promise<boolean> {
    return (await this.backend.remove?.(key)) ?? false;
  }

  /** The backend's entries with logical sizes (a header read for values whose size differs from their key). */
  async *entries(): AsyncIterable<StoreEntry> {
    if (this.backend.entries === undefined) return;
    for await (const entry of this.backend.entries()) {
      const logical = logicalSizeFromStoredSize(entry.key.sizeBytes, entry.size) ?? (await this.logicalSizeFromHeader(entry.key));
      // A value whose header cannot be read is still listed (gc can evict it, verify reports it), at its stored size.
      yield {
        key: entry.key,
        size: logical ?? entry.size,
        storedSize: entry.storedSize ?? entry.size,
        ...(entry.lastAccessMs === undefined ? {} : { lastAccessMs: entry.lastAccessMs }),
      };
    }
  }

  /** Counted for what passed through this process. ratio = logical / stored bytes written (2 = half the space). */
  stats(): CompressionStats {
    const c = this.counters;
    return {
      kind: this.kind,
      blockSize: this.blockSize,
      logicalBytes: c.logicalBytes,
      storedBytes: c.storedBytes,
      ratio: c.storedBytes > 0 ? c.logicalBytes / c.storedBytes : 1,
      blocksRaw: c.blocksRaw,
      blocksCompressed: c.blocksCompressed,
      spilledUploads: c.spilledUploads,
      logicalBytesRead: c.logicalBytesRead,
      blocksDecoded: c.blocksDecoded,
      damagedReads: c.damagedReads,
      headerReads: c.headerReads,
    };
  }
}

/** A compression store over `backend` with `spec`'s settings: for maintenance reads of one tier. */
export function compressionView(
  spec: CompressionSpec,
  backend: StoreDriver,
  ctx: Partial<Pick<StoreContext, 'logger'>> = {},
  options: CompressionStoreOptions = {},
): CompressionStore {
  return new CompressionStore(spec, backend, ctx, options);
}

async function* encoded(head: Buffer, spool: Spool, padded: boolean): ByteStream {
  yield head;
  yield* spool.read();
  if (padded) yield Buffer.alloc(1);
}

async function* empty(): ByteStream {}
