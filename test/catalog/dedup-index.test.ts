import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { ManualClock } from '../../src/util/clock.js';
import type { Digest } from '../../src/util/digest.js';
import { knownChunkRows, dedupRefsConsistency as refsConsistent } from '../helpers/dedup-consistency.js';

const d = (n: number, size = n * 10): Digest => ({ hash: n.toString(16).padStart(64, '0'), sizeBytes: size });
const S = 'CAS.dedup';

describe('catalog dedup index', () => {
  let dir: string;
  let path: string;
  let clock: ManualClock;
  let catalog: Catalog;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ncache-dedup-index-'));
    path = join(dir, 'catalog.sqlite');
    clock = new ManualClock(1_000_000);
    catalog = Catalog.open(path, { clock });
  });
  afterEach(async () => {
    catalog.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('commits a blob in two phases and counts one reference per chunk occurrence', () => {
    const blob = d(100, 50);
    const chunks = [d(1), d(2), d(1)];
    catalog.dedup.beginBlob(S, blob, chunks);
    expect(catalog.dedup.blobState(S, blob)).toBe('pending');
    // Only committed rows answer reads.
    expect(catalog.dedup.chunksOf(S, blob)).toBeUndefined();
    expect([...catalog.dedup.blobs(S)]).toEqual([]);
    expect(catalog.dedup.chunkRefs(S, d(1))).toBe(2);
    expect(catalog.dedup.chunkRefs(S, d(2))).toBe(1);
    expect(catalog.dedup.commitBlob(S, blob)).toBe(true);
    expect(catalog.dedup.commitBlob(S, blob)).toBe(false);
    expect(catalog.dedup.chunksOf(S, blob)).toEqual(chunks);
    expect([...catalog.dedup.blobs(S)]).toEqual([
      { digest: blob, chunkCount: 3, createdAtMs: 1_000_000, accessedAtMs: 1_000_000 },
    ]);
    expect(refsConsistent(path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('abortBlob removes a pending row and releases its references, but never a committed one', () => {
    catalog.dedup.beginBlob(S, d(100), [d(1), d(2)]);
    expect(catalog.dedup.abortBlob(S, d(100))).toBe(true);
    expect(catalog.dedup.blobState(S, d(100))).toBeUndefined();
    expect(catalog.dedup.chunkRefs(S, d(1))).toBe(0);
    catalog.dedup.beginBlob(S, d(101), [d(1)]);
    catalog.dedup.commitBlob(S, d(101));
    expect(catalog.dedup.abortBlob(S, d(101))).toBe(false);
    expect(catalog.dedup.chunkRefs(S, d(1))).toBe(1);
    expect(refsConsistent(path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('re-beginning a blob replaces its row without double counting', () => {
    catalog.dedup.beginBlob(S, d(100), [d(1), d(2)]);
    catalog.dedup.commitBlob(S, d(100));
    catalog.dedup.beginBlob(S, d(100), [d(1), d(2)]);
    expect(catalog.dedup.chunkRefs(S, d(1))).toBe(1);
    expect(catalog.dedup.pendingBlobs(S)).toEqual([d(100)]);
    expect(refsConsistent(path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('forgetBlob releases references; orphans become visible to gc only after their grace period', () => {
    catalog.dedup.beginBlob(S, d(100), [d(1), d(2)]);
    catalog.dedup.commitBlob(S, d(100));
    catalog.dedup.beginBlob(S, d(101), [d(2), d(3)]);
    catalog.dedup.commitBlob(S, d(101));
    clock.advance(60_000);
    expect(catalog.dedup.forgetBlob(S, d(100))).toBe(true);
    expect(catalog.dedup.forgetBlob(S, d(100))).toBe(false);
    expect(catalog.dedup.chunkRefs(S, d(1))).toBe(0);
    expect(catalog.dedup.chunkRefs(S, d(2))).toBe(1);
    // The orphan's clock starts when it lost its last reference, not when it was first stored.
    expect(catalog.dedup.orphanChunks(S, clock.now(), 10)).toEqual([]);
    expect(catalog.dedup.orphanChunks(S, clock.now() + 1, 10)).toEqual([d(1)]);
    // A chunk referenced again is not dropped.
    expect(catalog.dedup.dropChunk(S, d(2))).toBe(false);
    expect(catalog.dedup.dropChunk(S, d(1))).toBe(true);
    expect(catalog.dedup.chunkRefs(S, d(1))).toBe(0);
    expect(knownChunkRows(path, S, [d(1), d(2), d(3)])).toEqual([false, true, true]);
    expect(refsConsistent(path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('recordChunks claims an old orphan so gc leaves it to the upload relying on it', () => {
    catalog.dedup.recordChunks(S, [d(7)]);
    clock.advance(3_600_000);
    expect(catalog.dedup.orphanChunks(S, clock.now(), 10)).toEqual([d(7)]);
    catalog.dedup.recordChunks(S, [d(7)]);
    expect(catalog.dedup.orphanChunks(S, clock.now(), 10)).toEqual([]);
  });

  it('loseChunk forgets every blob that uses the chunk and the chunk itself', () => {
    catalog.dedup.beginBlob(S, d(100), [d(1), d(2)]);
    catalog.dedup.commitBlob(S, d(100));
    catalog.dedup.beginBlob(S, d(101), [d(3), d(2)]);
    catalog.dedup.commitBlob(S, d(101));
    catalog.dedup.beginBlob(S, d(102), [d(3)]);
    catalog.dedup.commitBlob(S, d(102));
    const lost = catalog.dedup.loseChunk(S, d(2));
    expect(lost.map((b) => b.hash).sort()).toEqual([d(100).hash, d(101).hash]);
    expect(catalog.dedup.chunksOf(S, d(102))).toEqual([d(3)]);
    expect(knownChunkRows(path, S, [d(2)])).toEqual([false]);
    expect(catalog.dedup.chunkRefs(S, d(3))).toBe(1);
    expect(refsConsistent(path)).toEqual({ mismatches: [], dangling: 0 });
  });

  it('keeps stores apart, lists blobs in pages, and sums stats', () => {
    for (let i = 0; i < 1203; i++) {
      catalog.dedup.cacheBlob(S, d(10_000 + i, 1000), [d(1, 600), d(2, 400)]);
    }
    catalog.dedup.cacheBlob('AC.dedup', d(5, 1000), [d(1, 600), d(2, 400)]);
    const listed = [...catalog.dedup.blobs(S)];
    expect(listed).toHaveLength(1203);
    expect(new Set(listed.map((b) => b.digest.hash)).size).toBe(1203);
    expect(catalog.dedup.stats(S)).toEqual({
      blobs: 1203,
      logicalBytes: 1203 * 1000,
      chunks: 2,
      chunkBytes: 1000,
    });
    expect(catalog.dedup.chunkRefs(S, d(1, 600))).toBe(1203);
    expect(catalog.dedup.chunkRefs('AC.dedup', d(1, 600))).toBe(1);
  });

  it('iterating blobs while forgetting them works (gc pattern)', () => {
    for (let i = 0; i < 1100; i++) catalog.dedup.cacheBlob(S, d(20_000 + i, 100), [d(1, 100)]);
    let n = 0;
    for (const b of catalog.dedup.blobs(S)) {
      catalog.dedup.forgetBlob(S, b.digest);
      n++;
    }
    expect(n).toBe(1100);
    expect(catalog.dedup.chunkRefs(S, d(1, 100))).toBe(0);
  });

  it('touch moves access times; rows survive a reopen without close', () => {
    catalog.dedup.cacheBlob(S, d(100), [d(1)]);
    clock.advance(5000);
    catalog.dedup.touch(S, [d(100)]);
    expect([...catalog.dedup.blobs(S)][0]!.accessedAtMs).toBe(1_005_000);
    const second = Catalog.open(path, { clock });
    try {
      expect(second.dedup.chunksOf(S, d(100))).toEqual([d(1)]);
    } finally {
      second.close();
    }
  });
});
