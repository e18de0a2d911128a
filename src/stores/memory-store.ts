// A store that keeps values in memory as lists of chunks, with LRU eviction.
import type { MemorySpec } from '../config/types.js';
import { systemClock } from '../util/clock.js';
import { type Digest, digestKey, formatDigest } from '../util/digest.js';
import { notFound } from '../util/errors.js';
import { EvictingMap } from '../util/eviction.js';
import type { StoreContext } from './store-context.js';
import {
  type ByteStream,
  type QuietReads,
  type StoreDriver,
  type StoreEntry,
  checkRange,
  exactSize,
} from './store.js';
import type { MemoryStats } from './store-stats.js';

/** Small chunks are copied together into blocks of about this size, so a value never pins a larger buffer it was cut from. */
const BLOCK_BYTES = 1 << 20;

interface MemoryValue {
  readonly key: Digest;
  readonly chunks: readonly Buffer[];
}

export class MemoryStore implements StoreDriver, QuietReads {
  readonly kind = 'memory';
  private readonly values: EvictingMap<MemoryValue>;

  constructor(spec: MemorySpec = { kind: 'memory' }, ctx: Pick<StoreContext, 'clock'> = { clock: systemClock }) {
    this.values = new EvictingMap<MemoryValue>({ policy: spec.eviction_policy, clock: ctx.clock });
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return keys.map((key) => this.values.get(digestKey(key))?.size);
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    const what = `memory store update of ${formatDigest(key)}`;
    const chunks: Buffer[] = [];
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = () => {
      if (pendingBytes > 0) chunks.push(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of exactSize(source, size, what)) {
      if (chunk.length === 0) continue;
      // A big chunk that owns its whole buffer is kept as is; anything else is copied.
      if (chunk.length >= BLOCK_BYTES && chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length) {
        flush();
        chunks.push(chunk);
        continue;
      }
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= BLOCK_BYTES) flush();
    }
    flush();
    // Only a complete value is ever inserted: a failing source leaves nothing behind.
    this.values.set(digestKey(key), { key, chunks }, size);
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const entry = this.values.get(digestKey(key));
    if (entry === undefined) throw notFound(`memory store: ${formatDigest(key)} not found`);
    const { start, end } = checkRange(`memory store read of ${formatDigest(key)}`, entry.size, offset, length);
    return sliceChunks(entry.value.chunks, start, end);
  }

  /** verify sizes and reads values through peekSize/peekPart. */
  quietReads(): QuietReads {
    return this;
  }

  /** The size of a value, without counting as an access (has() does count). */
  peekSize(key: Digest): number | undefined {
    return this.values.peek(digestKey(key))?.size;
  }

  /** getPart without counting as an access (verify reads every value; that is not use). */
  async peekPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const entry = this.values.peek(digestKey(key));
    if (entry === undefined) throw notFound(`memory store: ${formatDigest(key)} not found`);
    const { start, end } = checkRange(`memory store read of ${formatDigest(key)}`, entry.size, offset, length);
    return sliceChunks(entry.value.chunks, start, end);
  }

  async remove(key: Digest): Promise<boolean> {
    return this.values.delete(digestKey(key)) !== undefined;
  }

  async *entries(): AsyncIterable<StoreEntry> {
    // Snapshot first: the caller may write to the store while listing.
    for (const entry of [...this.values.entries()]) {
      yield { key: entry.value.key, size: entry.size, lastAccessMs: entry.lastAccessMs };
    }
  }

  stats(): MemoryStats {
    return {
      kind: this.kind,
      bytes: this.values.bytes,
      count: this.values.count,
      maxBytes: this.values.maxBytes,
      evictions: this.values.evictions,
    };
  }
}

async function* sliceChunks(chunks: readonly Buffer[], start: number, end: number): ByteStream {
  let pos = 0;
  for (const chunk of chunks) {
    if (pos >= end) break;
    const chunkEnd = pos + chunk.length;
    if (chunkEnd > start) {
      yield chunk.subarray(Math.max(0, start - pos), Math.min(chunk.length, end - pos));
    }
    pos = chunkEnd;
  }
}
