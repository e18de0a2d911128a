import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { EvictionPolicy } from '../../src/config/types.js';
import { BlobIndex, type IndexedBlob } from '../../src/stores/filesystem/blob-index.js';
import { ManualClock } from '../../src/util/clock.js';
import { type Digest, digestKey } from '../../src/util/digest.js';
import { EvictingMap, type EvictReason, NO_EVICTION } from '../../src/util/eviction.js';

const policy = (p: Partial<EvictionPolicy>): EvictionPolicy => ({ ...NO_EVICTION, ...p });

const digest = (n: number, sizeBytes = n): Digest => ({
  hash: createHash('sha256').update(`blob ${n}`).digest('hex'),
  sizeBytes,
});

/** A small deterministic PRNG (mulberry32), so a failure replays the same operations. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ModelValue {
  readonly key: Digest;
  readonly storedSize: number;
}

/**
 * Runs the same random operations on a BlobIndex and on EvictingMap (the
 * reference for NativeLink's eviction semantics) and compares every answer,
 * every eviction and the LRU order.
 */
function compareWithEvictingMap(p: Partial<EvictionPolicy>, seed: number, operations: number, universe: number): void {
  const next = random(seed);
  const clock = new ManualClock();
  const indexEvictions: [string, EvictReason][] = [];
  const modelEvictions: [string, EvictReason][] = [];
  const index = new BlobIndex({
    policy: policy(p),
    clock,
    onEvict: (blob, reason) => indexEvictions.push([digestKey(blob.key), reason]),
  });
  const model = new EvictingMap<ModelValue>({
    policy: policy(p),
    clock,
    onEvict: (entry, reason) => modelEvictions.push([entry.key, reason]),
  });
  // Two sizes per hash for some keys: the size is part of the identity.
  const keys = Array.from({ length: universe }, (_, i) => digest(i % Math.ceil(universe * 0.8), 100 + i));
  const pick = () => keys[Math.floor(next() * keys.length)]!;
  for (let op = 0; op < operations; op++) {
    const key = pick();
    const name = digestKey(key);
    const roll = next();
    const context = `operation ${op} (seed ${seed}) on ${name}`;
    if (roll < 0.45) {
      const stored = Math.floor(next() * 5000);
      const charged = Math.ceil(stored / 512) * 512;
      index.set(key, stored, charged);
      model.set(name, { key, storedSize: stored }, charged);
    } else if (roll < 0.7) {
      const hit = index.get(key);
      const expected = model.get(name);
      expect(hit === undefined ? undefined : [hit.storedSize, hit.chargedSize, hit.lastAccessMs], context).toEqual(
        expected === undefined ? undefined : [expected.value.storedSize, expected.size, expected.lastAccessMs],
      );
    } else if (roll < 0.8) {
      const hit = index.peek(key);
      const expected = model.peek(name);
      expect(hit?.storedSize, context).toBe(expected?.value.storedSize);
    } else if (roll < 0.9) {
      expect(index.delete(key), context).toBe(model.delete(name) !== undefined);
    } else if (roll < 0.97) {
      clock.advance(Math.floor(next() * 3000));
    } else {
      index.sweep();
      model.sweep();
    }
    expect(indexEvictions, context).toEqual(modelEvictions);
    indexEvictions.length = 0;
    modelEvictions.length = 0;
    expect([index.count, index.bytes, index.evictions], context).toEqual([model.count, model.bytes, model.evictions]);
  }
  const order = (blobs: Iterable<IndexedBlob>) => [...blobs].map((b) => [digestKey(b.key), b.storedSize, b.chargedSize, b.lastAccessMs]);
  expect(order(index.entries())).toEqual(
    [...model.entries()].map((e) => [e.key, e.value.storedSize, e.size, e.lastAccessMs]),
  );
}

describe('BlobIndex', () => {
  it('answers like EvictingMap with no limit, through several growths of its arrays', () => {
    compareWithEvictingMap({}, 1, 20_000, 5_000);
  });

  it('answers like EvictingMap under max_bytes with a low watermark', () => {
    compareWithEvictingMap({ max_bytes: 400_000, evict_bytes: 50_000 }, 2, 20_000, 2_000);
  });

  it('answers like EvictingMap under max_count', () => {
    compareWithEvictingMap({ max_count: 300 }, 3, 20_000, 1_000);
  });

  it('answers like EvictingMap under max_seconds', () => {
    compareWithEvictingMap({ max_seconds: 60 }, 4, 20_000, 1_000);
  });

  it('answers like EvictingMap with every limit at once', () => {
    for (const seed of [5, 6, 7]) compareWithEvictingMap({ max_bytes: 300_000, evict_bytes: 20_000, max_count: 250, max_seconds: 40 }, seed, 10_000, 800);
  });

  it('finds every blob after heavy churn (deletion never hides a blob further along its probe run)', () => {
    const index = new BlobIndex({ clock: new ManualClock() });
    const present = new Set<number>();
    const next = random(8);
    for (let op = 0; op < 60_000; op++) {
      const n = Math.floor(next() * 4_000);
      if (next() < 0.55) {
        index.set(digest(n), n, n);
        present.add(n);
      } else {
        expect(index.delete(digest(n))).toBe(present.delete(n));
      }
    }
    for (let n = 0; n < 4_000; n++) expect(index.peek(digest(n))?.storedSize).toBe(present.has(n) ? n : undefined);
    expect(index.count).toBe(present.size);
  });

  it('tells a blob by its size as well as its hash', () => {
    const index = new BlobIndex({ clock: new ManualClock() });
    const key = digest(1, 10);
    index.set(key, 10, 10);
    expect(index.get({ hash: key.hash, sizeBytes: 11 })).toBeUndefined();
    expect(index.get(key)?.storedSize).toBe(10);
  });

  it('gives back the exact digest, leading zeros included', () => {
    const index = new BlobIndex({ clock: new ManualClock() });
    const keys = [
      { hash: '0'.repeat(64), sizeBytes: 0 },
      { hash: `${'0'.repeat(15)}1${'f'.repeat(48)}`, sizeBytes: 2 ** 45 },
      digest(3),
    ];
    for (const key of keys) index.set(key, key.sizeBytes, 1);
    expect([...index.entries()].map((b) => b.key)).toEqual(keys);
  });

  it('never finds a hash that is not 64 lowercase hex characters, and refuses to store one', () => {
    const index = new BlobIndex({ clock: new ManualClock() });
    const key = digest(1);
    index.set(key, 1, 1);
    for (const hash of [key.hash.toUpperCase(), key.hash.slice(1), `${key.hash}0`, `${key.hash.slice(0, 63)}g`, `${key.hash.slice(0, 63)}é`]) {
      expect(index.get({ hash, sizeBytes: 1 }), hash).toBeUndefined();
      expect(index.delete({ hash, sizeBytes: 1 }), hash).toBe(false);
      expect(() => index.set({ hash, sizeBytes: 1 }, 1, 1), hash).toThrow(/not a lowercase SHA-256/);
    }
    expect(index.count).toBe(1);
  });

  it('gives a replaced blob a new version, so a caller can tell it from the one it saw', () => {
    const index = new BlobIndex({ clock: new ManualClock() });
    const key = digest(1);
    index.set(key, 1, 1);
    const first = index.peek(key)!.version;
    expect(index.get(key)!.version).toBe(first); // a touch is not a replacement
    index.set(key, 1, 1);
    expect(index.peek(key)!.version).not.toBe(first);
  });

  it('iterates the order at its start, skipping blobs deleted or replaced before their turn', () => {
    const index = new BlobIndex({ clock: new ManualClock() });
    for (let n = 0; n < 5; n++) index.set(digest(n), n, n);
    const seen: number[] = [];
    for (const blob of index.entries()) {
      seen.push(blob.storedSize);
      if (blob.storedSize === 0) {
        index.delete(digest(2));
        index.set(digest(3), 3, 3); // replaced: a new version, and now the newest
        index.set(digest(9), 9, 9); // added after the start: not in this iteration
      }
    }
    expect(seen).toEqual([0, 1, 4]);
    expect([...index.entries()].map((b) => b.storedSize)).toEqual([0, 1, 4, 3, 9]);
  });
});
