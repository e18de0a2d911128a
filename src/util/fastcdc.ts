// FastCDC content-defined chunking (Xia et al., USENIX ATC 2016), streaming.
//
// A gear hash rolls over the bytes: fp = (fp << 1) + GEAR[byte]. With a 32-bit
// fp every byte's contribution is shifted out after 32 steps, so fp at a
// position depends only on the 32 bytes ending there: a cut point depends on
// local content, not on where the stream started, which is what keeps chunk
// boundaries (and so chunk hashes) stable around an edit elsewhere.
//
// Normalized chunking: below `normalSize` a cut needs more zero bits (a harder
// mask), above it fewer (an easier mask), which pulls chunk sizes towards
// `normalSize`. Bytes before `minSize - 32` are never hashed (the "cut-point
// skipping" that makes FastCDC fast), and a chunk is cut at `maxSize` at the latest.
import { invalidArgument } from './errors.js';

export interface ChunkSizes {
  /** No chunk is shorter, except the last one of a stream. */
  readonly minSize: number;
  /** The size chunks cluster around. */
  readonly normalSize: number;
  /** No chunk is longer. */
  readonly maxSize: number;
}

/** Bytes the rolling hash covers: the width of fp. */
const WINDOW = 32;

/**
 * 256 pseudo-random 32-bit values, generated here from a fixed seed (a Weyl
 * sequence through the murmur3 finalizer) so chunk boundaries never change
 * between builds or machines: changing the seed would change every chunk.
 */
const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  let state = 0x6e636463; // "ncdc"
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    table[i] = z ^ (z >>> 16);
  }
  return table;
})();

/** A mask of the `bits` highest bits of a 32-bit word (the bits that saw the whole window). */
function highBitsMask(bits: number): number {
  const b = Math.max(1, Math.min(31, bits));
  return (~0 << (32 - b)) | 0;
}

export function validateChunkSizes(sizes: ChunkSizes, what = 'chunk sizes'): void {
  const { minSize, normalSize, maxSize } = sizes;
  for (const [name, v] of [['minSize', minSize], ['normalSize', normalSize], ['maxSize', maxSize]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw invalidArgument(`${what}: ${name} must be a positive integer, got ${v}`);
  }
  if (!(minSize <= normalSize && normalSize <= maxSize)) {
    throw invalidArgument(`${what}: need minSize <= normalSize <= maxSize, got ${minSize} / ${normalSize} / ${maxSize}`);
  }
}

/**
 * A streaming chunker. `push` takes the next bytes of the stream and returns
 * the chunks completed by them; `finish` returns the rest. Returned chunks may
 * be views of the pushed buffers (no copy when a chunk lies within one push),
 * so callers must not modify a buffer after pushing it. At most `maxSize - 1`
 * bytes are held between calls.
 */
export class FastCdc {
  private readonly minSize: number;
  private readonly normalSize: number;
  private readonly maxSize: number;
  /** Chunk-relative position where hashing starts, so fp is complete by minSize. */
  private readonly hashFrom: number;
  private readonly maskHard: number;
  private readonly maskEasy: number;

  /** Pieces of the current, not yet cut chunk. */
  private parts: Buffer[] = [];
  /** Bytes of the current chunk seen so far. */
  private len = 0;
  private fp = 0;
  private finished = false;

  constructor(sizes: ChunkSizes) {
    validateChunkSizes(sizes);
    this.minSize = sizes.minSize;
    this.normalSize = sizes.normalSize;
    this.maxSize = sizes.maxSize;
    this.hashFrom = Math.max(0, this.minSize - WINDOW);
    // Normalization level 2: two bits more below the normal size, two fewer above.
    const bits = Math.round(Math.log2(this.normalSize));
    this.maskHard = highBitsMask(bits + 2);
    this.maskEasy = highBitsMask(bits - 2);
  }

  push(buf: Buffer): Buffer[] {
    if (this.finished) throw new Error('FastCdc.push after finish');
    const out: Buffer[] = [];
    let from = 0;
    while (from < buf.length) {
      const cut = this.scan(buf, from);
      if (cut < 0) {
        this.parts.push(from === 0 ? buf : buf.subarray(from));
        break;
      }
      const piece = buf.subarray(from, cut);
      if (this.parts.length === 0) {
        out.push(piece);
      } else {
        this.parts.push(piece);
        out.push(Buffer.concat(this.parts));
        this.parts = [];
      }
      from = cut;
    }
    return out;
  }

  finish(): Buffer[] {
    if (this.finished) return [];
    this.finished = true;
    if (this.len === 0) return [];
    const last = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.len = 0;
    return [last];
  }

  /**
   * Consumes buf[from..] into the current chunk. Returns the index in `buf`
   * just past a cut (and starts a new chunk there), or -1 when the whole rest
   * of `buf` belongs to the current chunk.
   */
  private scan(buf: Buffer, from: number): number {
    const gear = GEAR;
    const end = buf.length;
    let j = from;
    let fp = this.fp;

    // Too early for a cut and outside the window that decides the first one: skip.
    if (this.len < this.hashFrom) j += Math.min(end - j, this.hashFrom - this.len);
    // Fill the window; chunks this short are never cut.
    let len = this.len + (j - from);
    let stop = j + Math.max(0, Math.min(end - j, this.minSize - 1 - len));
    while (j < stop) fp = ((fp << 1) + gear[buf[j++]!]!) | 0;
    len = this.len + (j - from);

    // Below the normal size: the harder mask.
    stop = j + Math.max(0, Math.min(end - j, this.normalSize - 1 - len));
    const hard = this.maskHard;
    // Unrolled by four: the loop test costs about as much as the hash step itself.
    for (const stop4 = stop - 3; j < stop4; j += 4) {
      fp = ((fp << 1) + gear[buf[j]!]!) | 0;
      if ((fp & hard) === 0) return this.cutAt(j + 1);
      fp = ((fp << 1) + gear[buf[j + 1]!]!) | 0;
      if ((fp & hard) === 0) return this.cutAt(j + 2);
      fp = ((fp << 1) + gear[buf[j + 2]!]!) | 0;
      if ((fp & hard) === 0) return this.cutAt(j + 3);
      fp = ((fp << 1) + gear[buf[j + 3]!]!) | 0;
      if ((fp & hard) === 0) return this.cutAt(j + 4);
    }
    while (j < stop) {
      fp = ((fp << 1) + gear[buf[j++]!]!) | 0;
      if ((fp & hard) === 0) return this.cutAt(j);
    }
    len = this.len + (j - from);

    // Up to the maximum: the easier mask.
    stop = j + Math.max(0, Math.min(end - j, this.maxSize - 1 - len));
    const easy = this.maskEasy;
    for (const stop4 = stop - 3; j < stop4; j += 4) {
      fp = ((fp << 1) + gear[buf[j]!]!) | 0;
      if ((fp & easy) === 0) return this.cutAt(j + 1);
      fp = ((fp << 1) + gear[buf[j + 1]!]!) | 0;
      if ((fp & easy) === 0) return this.cutAt(j + 2);
      fp = ((fp << 1) + gear[buf[j + 2]!]!) | 0;
      if ((fp & easy) === 0) return this.cutAt(j + 3);
      fp = ((fp << 1) + gear[buf[j + 3]!]!) | 0;
      if ((fp & easy) === 0) return this.cutAt(j + 4);
    }
    while (j < stop) {
      fp = ((fp << 1) + gear[buf[j++]!]!) | 0;
      if ((fp & easy) === 0) return this.cutAt(j);
    }
    len = this.len + (j - from);

    if (len === this.maxSize - 1 && j < end) return this.cutAt(j + 1);
    this.len = len;
    this.fp = fp;
    return -1;
  }

  private cutAt(index: number): number {
    this.len = 0;
    this.fp = 0;
    return index;
  }
}

/** A streaming chunker (see FastCdc). */
export function createChunker(sizes: ChunkSizes): { push(buf: Buffer): Buffer[]; finish(): Buffer[] } {
  return new FastCdc(sizes);
}

/** The end offset of each chunk of `data` (the last one is data.length; empty data has none). */
export function chunkBoundaries(data: Buffer, sizes: ChunkSizes): number[] {
  const chunker = new FastCdc(sizes);
  const ends: number[] = [];
  let pos = 0;
  for (const chunk of [...chunker.push(data), ...chunker.finish()]) {
    pos += chunk.length;
    ends.push(pos);
  }
  return ends;
}
