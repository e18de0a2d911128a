// PinningStore: a key is pinned while an upload streams into it and while a
// read streams out of it, and released at the end, on failure and on abandon.
import { describe, expect, it } from 'vitest';
import { PinRegistry } from '../../src/maintenance/pins.js';
import { PinningStore } from '../../src/maintenance/pinning-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { putBuffer } from '../../src/stores/store.js';
import { VerifyStore } from '../../src/stores/verify-store.js';
import { digestOf } from '../../src/util/digest.js';

describe('PinningStore', () => {
  it('pins an upload until it commits', async () => {
    const pins = new PinRegistry();
    const store = new PinningStore(new MemoryStore(), pins);
    const data = Buffer.from('hello pins');
    const key = digestOf(data);
    let resume!: () => void;
    const gate = new Promise<void>((r) => (resume = r));
    async function* source() {
      yield data.subarray(0, 5);
      await gate;
      yield data.subarray(5);
    }
    const upload = store.update(key, source(), data.length);
    expect(pins.isPinned(key)).toBe(true);
    resume();
    await upload;
    expect(pins.isPinned(key)).toBe(false);
  });

  it('pins a read until the stream ends or is abandoned, and not after a miss', async () => {
    const pins = new PinRegistry();
    const store = new PinningStore(new MemoryStore(), pins);
    const data = Buffer.alloc(10, 7);
    const key = digestOf(data);
    await putBuffer(store, key, data);

    const whole = await store.getPart(key, 0);
    expect(pins.isPinned(key)).toBe(true);
    for await (const _ of whole) expect(pins.isPinned(key)).toBe(true);
    expect(pins.isPinned(key)).toBe(false);

    const abandoned = await store.getPart(key, 0);
    for await (const _ of abandoned) break;
    expect(pins.isPinned(key)).toBe(false);

    await expect(store.getPart(digestOf(Buffer.from('absent')), 0)).rejects.toThrow(/not found/);
    expect(pins.size).toBe(0);
  });

  it('counts concurrent users of one key', () => {
    const pins = new PinRegistry();
    const key = digestOf(Buffer.from('k'));
    const a = pins.pin(key);
    const b = pins.pin(key);
    a();
    a();
    expect(pins.isPinned(key)).toBe(true);
    b();
    expect(pins.isPinned(key)).toBe(false);
  });

  it('passes a store\'s upload hash check through (ByteStream relies on it), and claims none for a store without one', () => {
    const pins = new PinRegistry();
    const checking = new PinningStore(new VerifyStore(new MemoryStore(), { verifySize: true, verifyHash: true }), pins);
    const sizeOnly = new PinningStore(new VerifyStore(new MemoryStore(), { verifySize: true, verifyHash: false }), pins);
    expect(checking.checksUploadHash?.()).toBe(true);
    expect(sizeOnly.checksUploadHash?.()).toBe(false);
    expect(new PinningStore(new MemoryStore(), pins).checksUploadHash).toBeUndefined();
  });
});
