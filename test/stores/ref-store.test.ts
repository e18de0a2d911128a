import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { RefStore } from '../../src/stores/ref-store.js';
import { putBuffer, readBuffer, type StoreDriver } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';

describe('RefStore', () => {
  it('resolves its target by name on first use, not at construction', async () => {
    const named = new Map<string, MemoryStore>();
    const lookups: string[] = [];
    const ref = new RefStore('LATER', {
      storeByName: (name) => {
        lookups.push(name);
        const s = named.get(name);
        if (!s) throw new Error(`unknown store ${name}`);
        return s;
      },
    });
    expect(lookups).toEqual([]);
    const target = new MemoryStore();
    named.set('LATER', target);
    const data = Buffer.from('via ref');
    await putBuffer(ref, digestOf(data), data);
    expect(await target.has([digestOf(data)])).toEqual([data.length]);
    expect((await readBuffer(ref, digestOf(data))).equals(data)).toBe(true);
    expect(lookups).toEqual(['LATER']);
    expect((ref as StoreDriver).children).toBeUndefined();
  });
});
