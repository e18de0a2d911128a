// The dedup benchmark's corpus must be what the bench says it is: the same
// bytes for the same seed, versions that differ from the previous one only
// by the small edits recorded, and build outputs that compress.
import { createHash } from 'node:crypto';
import { compressSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { ArchiveCorpus, buildOutputBytes, buildOutputs, objectLike, Prng, textLike } from '../../bench/corpus.js';

const MIB = 1024 * 1024;
const small = { seed: 7, baseBytes: 3 * MIB, versions: 4, edits: 4, insertions: 3, deletions: 1 };

function whole(corpus: ArchiveCorpus, v: number, pieceBytes?: number): Buffer {
  return Buffer.concat([...corpus.versionChunks(v, pieceBytes)]);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// A tiny gear-hash chunker (about 2 KiB pieces), independent of the product's FastCDC.
const GEAR = Array.from({ length: 256 }, (_, i) => new Prng(1000 + i).next());
function cdcPieces(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  let h = 0;
  for (let i = 0; i < data.length; i++) {
    h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
    if (i - start >= 64 && (h & 0x7ff) === 0) {
      out.push(data.subarray(start, i + 1));
      start = i + 1;
    }
  }
  if (start < data.length) out.push(data.subarray(start));
  return out;
}

describe('bench corpus', () => {
  it('is deterministic: same seed, same bytes; another seed, other bytes; piece size does not matter', () => {
    const one = new ArchiveCorpus(small);
    const two = new ArchiveCorpus(small);
    for (let v = 1; v <= small.versions; v++) expect(sha(whole(one, v))).toBe(sha(whole(two, v, 12_345)));
    expect(sha(whole(new ArchiveCorpus({ ...small, seed: 8 }), 1))).not.toBe(sha(whole(one, 1)));
  });

  it('version 1 has the base size; each later version differs only by its recorded small changes', () => {
    const corpus = new ArchiveCorpus(small);
    const v1 = whole(corpus, 1);
    expect(v1.length).toBe(small.baseBytes);
    expect(corpus.versionLength(1)).toBe(small.baseBytes);
    // A tar-like first header.
    expect(v1.subarray(257, 262).toString('latin1')).toBe('ustar');
    let prev = v1;
    for (let v = 2; v <= small.versions; v++) {
      const cur = whole(corpus, v);
      const change = corpus.changes[v - 1]!;
      expect(change).toMatchObject({ edits: 4, insertions: 3, deletions: 1 });
      expect(cur.length).toBe(corpus.versionLength(v));
      // Length moves by exactly the inserted minus the deleted bytes (edits overwrite in place).
      expect(cur.length - prev.length).toBe(change.bytesInserted - change.bytesDeleted);
      expect(change.bytesEdited).toBeGreaterThan(0);
      // Changes sit at several places, yet most of the file is byte-identical to the previous version.
      expect(cur.equals(prev)).toBe(false);
      // Content-defined pieces (so shifted content still lines up): nearly all bytes are shared.
      const before = new Set(cdcPieces(prev).map(sha));
      const shared = cdcPieces(cur).filter((p) => before.has(sha(p))).reduce((sum, p) => sum + p.length, 0);
      expect(shared / cur.length).toBeGreaterThan(0.95);
      prev = cur;
    }
  });

  it('text and object-like content compress with lz4, random content does not; build outputs are mostly compressible', () => {
    const ratio = (b: Buffer) => {
      let stored = 0;
      for (let off = 0; off < b.length; off += 65536) stored += compressSync(b.subarray(off, off + 65536)).length;
      return b.length / stored;
    };
    expect(ratio(textLike(new Prng(1), MIB))).toBeGreaterThan(1.6);
    expect(ratio(objectLike(new Prng(1), MIB))).toBeGreaterThan(1.3);
    const outputs = buildOutputs(3, 4 * MIB);
    expect(outputs.reduce((s, o) => s + o.size, 0)).toBe(4 * MIB);
    expect(ratio(Buffer.concat(outputs.map(buildOutputBytes)))).toBeGreaterThan(1.4);
    expect(sha(buildOutputBytes(outputs[0]!))).toBe(sha(buildOutputBytes(buildOutputs(3, 4 * MIB)[0]!)));
  });
});
