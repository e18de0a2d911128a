import { describe, expect, it } from 'vitest';
import { ExistenceCacheStore } from '../../src/stores/existence-cache-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { putBuffer, readBuffer } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { type Digest, digestOf } from '../../src/util/digest.js';

class CountingStore extends MemoryStore {
  asked = 0;
  override async has(keys: readonly Digest[]) {
    this.asked += keys.length;
    return super.has(keys);
  }
}

const policy = { max_bytes: 0, evict_bytes: 0, max_count: 0, max_seconds: 60 };

describe('ExistenceCacheStore', () => {
  it('answers repeated existence checks without asking the backend, never caching absence', async () => {
    const backend = new CountingStore();
    const store = new ExistenceCacheStore(backend, policy, { clock: new ManualClock() });
    const a = Buffer.from('present');
    const b = Buffer.from('absent for now');
    await putBuffer(backend, digestOf(a), a);
    expect(await store.has([digestOf(a), digestOf(b)])).toEqual([7, undefined]);
    expect(backend.asked).toBe(2);
    expect(await store.has([digestOf(a), digestOf(b)])).toEqual([7, undefined]);
    expect(backend.asked).toBe(3); // only b asked again
    await putBuffer(backend, digestOf(b), b); // uploaded behind the cache's back
    expect(await store.has([digestOf(b)])).toEqual([b.length]);
  });

  it('learns from its own uploads and forgets what a read finds missing', async () => {
    const backend = new CountingStore();
    const store = new ExistenceCacheStore(backend, policy, { clock: new ManualClock() });
    const a = Buffer.from('uploaded through the cache');
    await putBuffer(store, digestOf(a), a);
    expect(await store.has([digestOf(a)])).toEqual([a.length]);
    expect(backend.asked).toBe(0);
    expect((await readBuffer(store, digestOf(a))).equals(a)).toBe(true);
    await backend.remove(digestOf(a));
    await expect(store.getPart(digestOf(a), 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.has([digestOf(a)])).toEqual([undefined]);
    expect(backend.asked).toBe(1);
  });

  it('expires what it knows after max_seconds', async () => {
    const clock = new ManualClock();
    const backend = new CountingStore();
    const store = new ExistenceCacheStore(backend, policy, { clock });
    const a = Buffer.from('x');
    await putBuffer(store, digestOf(a), a);
    clock.advance(61_000);
    expect(await store.has([digestOf(a)])).toEqual([1]);
    expect(backend.asked).toBe(1);
  });
});
