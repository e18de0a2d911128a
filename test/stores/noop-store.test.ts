import { describe, expect, it } from 'vitest';
import { NoopStore } from '../../src/stores/noop-store.js';
import { bufferStream, putBuffer, type StoreDriver } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';

describe('NoopStore', () => {
  it('accepts writes and keeps nothing', async () => {
    const store: StoreDriver = new NoopStore();
    const data = Buffer.from('dropped');
    await putBuffer(store, digestOf(data), data);
    expect(await store.has([digestOf(data)])).toEqual([undefined]);
    await expect(store.getPart(digestOf(data), 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('still rejects a source shorter than declared', async () => {
    const store: StoreDriver = new NoopStore();
    await expect(store.update(digestOf(Buffer.from('abc')), bufferStream(Buffer.from('ab')), 3)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
