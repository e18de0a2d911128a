import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { SizePartitioningStore } from '../../src/stores/size-partitioning-store.js';
import { putBuffer, readBuffer } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';

describe('SizePartitioningStore', () => {
  it('routes keys smaller than the size to the lower store and the rest to the upper store', async () => {
    const lower = new MemoryStore();
    const upper = new MemoryStore();
    const store = new SizePartitioningStore(100, lower, upper);
    const small = Buffer.alloc(99, 1);
    const edge = Buffer.alloc(100, 2);
    await putBuffer(store, digestOf(small), small);
    await putBuffer(store, digestOf(edge), edge);
    expect(await lower.has([digestOf(small), digestOf(edge)])).toEqual([99, undefined]);
    expect(await upper.has([digestOf(small), digestOf(edge)])).toEqual([undefined, 100]);
    expect(await store.has([digestOf(edge), digestOf(small), digestOf(Buffer.from('x'))])).toEqual([
      100,
      99,
      undefined,
    ]);
    expect((await readBuffer(store, digestOf(edge))).equals(edge)).toBe(true);
    expect((await readBuffer(store, digestOf(small))).equals(small)).toBe(true);
    const listed = [];
    for await (const e of store.entries()) listed.push(e.size);
    expect(listed.sort()).toEqual([100, 99]);
    expect(await store.remove(digestOf(small))).toBe(true);
    expect(await lower.has([digestOf(small)])).toEqual([undefined]);
  });
});
