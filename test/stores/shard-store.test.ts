import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { ShardStore } from '../../src/stores/shard-store.js';
import { putBuffer, readBuffer } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';

const blobs = Array.from({ length: 2000 }, (_, i) => Buffer.from(`blob number ${i}`));

describe('ShardStore', () => {
  it('spreads keys by weight and finds each where it put it', async () => {
    const shards = [new MemoryStore(), new MemoryStore(), new MemoryStore()];
    const store = new ShardStore([
      { store: shards[0]!, weight: 1 },
      { store: shards[1]!, weight: 2 },
      { store: shards[2]!, weight: 1 },
    ]);
    for (const b of blobs) await putBuffer(store, digestOf(b), b);
    const counts = shards.map((s) => s.stats().count);
    expect(counts.reduce((a, b) => a + b)).toBe(2000);
    // Weight 2 gets about half; allow generous slack for hash variance.
    expect(counts[1]!).toBeGreaterThan(850);
    expect(counts[1]!).toBeLessThan(1150);
    expect(counts[0]!).toBeGreaterThan(400);
    expect(counts[2]!).toBeGreaterThan(400);
    const sizes = await store.has(blobs.map(digestOf));
    expect(sizes).toEqual(blobs.map((b) => b.length));
    expect((await readBuffer(store, digestOf(blobs[7]!))).equals(blobs[7]!)).toBe(true);
  });

  it('is stable: a second instance with the same weights picks the same shards', () => {
    const make = () =>
      new ShardStore([
        { store: new MemoryStore(), weight: 3 },
        { store: new MemoryStore(), weight: 5 },
      ]);
    const a = make();
    const b = make();
    for (const blob of blobs.slice(0, 200)) expect(a.shardOf(digestOf(blob))).toBe(b.shardOf(digestOf(blob)));
  });

  it('maps the extremes of the hash space inside the shard list', () => {
    const store = new ShardStore([
      { store: new MemoryStore(), weight: 1 },
      { store: new MemoryStore(), weight: 1 },
    ]);
    expect(store.shardOf({ hash: '0'.repeat(64), sizeBytes: 1 })).toBe(0);
    expect(store.shardOf({ hash: 'f'.repeat(64), sizeBytes: 1 })).toBe(1);
  });
});
