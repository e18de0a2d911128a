import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ChunkSizes, FastCdc, chunkBoundaries, createChunker } from '../../src/util/fastcdc.js';
import { deterministicBytes } from '../helpers/data.js';

const SMALL: ChunkSizes = { minSize: 2048, normalSize: 8192, maxSize: 16384 };
const DEFAULTS: ChunkSizes = { minSize: 64 << 10, normalSize: 256 << 10, maxSize: 512 << 10 };

function chunksOf(data: Buffer, sizes: ChunkSizes): Buffer[] {
  const c = createChunker(sizes);
  return [...c.push(data), ...c.finish()];
}

const hashes = (chunks: Buffer[]) => chunks.map((c) => createHash('sha256').update(c).digest('hex'));

describe('FastCDC chunker', () => {
  it('is deterministic: the same bytes give the same boundaries, run after run', () => {
    const data = deterministicBytes(1 << 20, 7);
    const a = chunkBoundaries(data, SMALL);
    const b = chunkBoundaries(Buffer.from(data), SMALL);
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(30);
    expect(a[a.length - 1]).toBe(data.length);
  });

  it('pins the boundaries of a known input (the gear table and masks must never drift)', () => {
    // Changing the gear seed, the masks or the cut rule would change every
    // chunk hash already stored in a shared bucket; this catches that.
    const ends = chunkBoundaries(deterministicBytes(64 << 10, 12345), SMALL);
    const fingerprint = createHash('sha256').update(ends.join(',')).digest('hex').slice(0, 16);
    expect({ count: ends.length, fingerprint }).toMatchInlineSnapshot(`
      {
        "count": 8,
        "fingerprint": "6e4ea6959424be93",
      }
    `);
  });

  it('keeps every chunk within [minSize, maxSize], except a shorter last one', () => {
    for (const [sizes, length, seed] of [
      [SMALL, 3 << 20, 1],
      [DEFAULTS, 24 << 20, 2],
    ] as const) {
      const chunks = chunksOf(deterministicBytes(length, seed), sizes);
      chunks.slice(0, -1).forEach((c, i) => {
        expect(c.length, `chunk ${i}`).toBeGreaterThanOrEqual(sizes.minSize);
        expect(c.length, `chunk ${i}`).toBeLessThanOrEqual(sizes.maxSize);
      });
      expect(chunks.at(-1)!.length).toBeLessThanOrEqual(sizes.maxSize);
      expect(chunks.at(-1)!.length).toBeGreaterThan(0);
    }
  });

  it('cuts near the normal size on random data (normalized chunking)', () => {
    const chunks = chunksOf(deterministicBytes(48 << 20, 3), DEFAULTS);
    const mean = (48 << 20) / chunks.length;
    expect(mean).toBeGreaterThan(DEFAULTS.minSize + (DEFAULTS.normalSize - DEFAULTS.minSize) / 2);
    expect(mean).toBeLessThan(DEFAULTS.maxSize - (DEFAULTS.maxSize - DEFAULTS.normalSize) / 4);
  });

  it('cuts data without content-defined boundaries (all zeros) at maxSize', () => {
    const chunks = chunksOf(Buffer.alloc(5 * SMALL.maxSize + 100), SMALL);
    expect(chunks.map((c) => c.length)).toEqual([...Array(5).fill(SMALL.maxSize), 100]);
  });

  it('concatenating the chunks gives back the input', () => {
    const data = deterministicBytes(2 << 20, 11);
    expect(Buffer.concat(chunksOf(data, SMALL)).equals(data)).toBe(true);
  });

  it('gives the same chunks whether the stream arrives in one piece or in random pieces', () => {
    const data = deterministicBytes(3 << 20, 5);
    const whole = hashes(chunksOf(data, SMALL));
    let seed = 99;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 5; round++) {
      const c = new FastCdc(SMALL);
      const out: Buffer[] = [];
      for (let off = 0; off < data.length; ) {
        // Mostly small pieces, sometimes one byte, sometimes bigger than maxSize.
        const n = [1, rand(64) + 1, rand(5000) + 1, rand(40000) + 1][rand(4)]!;
        out.push(...c.push(data.subarray(off, off + n)));
        off += n;
      }
      out.push(...c.finish());
      expect(hashes(out)).toEqual(whole);
    }
  });

  it('keeps boundaries stable under an insertion far away: most chunks stay identical', () => {
    const data = deterministicBytes(8 << 20, 21);
    const edited = Buffer.concat([data.subarray(0, 5_000_000), Buffer.from('an insertion of a few bytes'), data.subarray(5_000_000)]);
    const before = hashes(chunksOf(data, SMALL));
    const after = hashes(chunksOf(edited, SMALL));
    const known = new Set(before);
    const shared = after.filter((h) => known.has(h)).length;
    // Only the chunk(s) around the edit change; boundaries resynchronise right after it.
    expect(after.length - shared).toBeLessThanOrEqual(3);
    expect(shared).toBeGreaterThanOrEqual(before.length - 3);
    // Chunks before the edit are byte-for-byte the same sequence.
    const cut = before.findIndex((h, i) => after[i] !== h);
    expect(cut).toBeGreaterThan(before.length / 2);
  });

  it('keeps most chunks under a deletion and an overwrite', () => {
    const data = deterministicBytes(4 << 20, 31);
    const edited = Buffer.from(data);
    edited.fill(0x41, 1_000_000, 1_000_010);
    const shortened = Buffer.concat([edited.subarray(0, 3_000_000), edited.subarray(3_000_500)]);
    const before = new Set(hashes(chunksOf(data, SMALL)));
    const after = hashes(chunksOf(shortened, SMALL));
    const changed = after.filter((h) => !before.has(h)).length;
    expect(changed).toBeLessThanOrEqual(6);
  });

  it('handles an empty stream and tiny streams', () => {
    expect(chunksOf(Buffer.alloc(0), SMALL)).toEqual([]);
    expect(chunkBoundaries(Buffer.from('abc'), SMALL)).toEqual([3]);
    const c = createChunker(SMALL);
    expect(c.push(Buffer.alloc(0))).toEqual([]);
    expect(c.finish()).toEqual([]);
  });

  it('holds less than maxSize bytes between pushes', () => {
    const c = createChunker(SMALL);
    const data = deterministicBytes(1 << 20, 8);
    let pushed = 0;
    let emitted = 0;
    for (let off = 0; off < data.length; off += 1000) {
      for (const chunk of c.push(data.subarray(off, off + 1000))) emitted += chunk.length;
      pushed = Math.min(data.length, off + 1000);
      expect(pushed - emitted).toBeLessThan(SMALL.maxSize);
    }
  });

  it('rejects inconsistent sizes', () => {
    expect(() => createChunker({ minSize: 10, normalSize: 5, maxSize: 20 })).toThrow(/minSize <= normalSize <= maxSize/);
    expect(() => createChunker({ minSize: 0, normalSize: 5, maxSize: 20 })).toThrow(/minSize must be a positive integer/);
  });
});
