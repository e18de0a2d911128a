// `ncache stop --force`: FastSlowStore.skipFlushOnClose() makes close() leave
// owed uploads in the journal instead of waiting to deliver them. The slow
// tier here never finishes an upload (a hung network), and the flush timeout
// is an hour, so a close() that still flushed would never return.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { type ByteStream, putBuffer } from '../../src/stores/store.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';

/** A slow tier whose uploads never complete; it says when one has begun. */
class HungSlowTier extends MemoryStore {
  uploadStarted!: Promise<void>;
  private started!: () => void;
  constructor() {
    super();
    this.uploadStarted = new Promise((resolve) => (this.started = resolve));
  }
  override async has(keys: readonly Digest[]) {
    return keys.map(() => undefined);
  }
  override update(_key: Digest, _source: ByteStream, _size: number): Promise<void> {
    this.started();
    return new Promise(() => {});
  }
}

let dir: string;
tempDirPerTest('ncache-skipflush-', (path) => (dir = path));

it('close() after skipFlushOnClose() returns with the upload still journaled', async () => {
  const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
  try {
    const slow = new HungSlowTier();
    const store = new FastSlowStore(new MemoryStore(), slow, {
      slowWriteMode: 'async',
      catalog,
      storeId: 'CAS',
      slowTier: 'hung',
      writeBehind: { retryBaseMs: 5, retryMaxMs: 20, flushTimeoutMs: 3_600_000 },
    });
    await store.start();
    const data = Buffer.from('owed to a slow tier that hangs');
    await putBuffer(store, digestOf(data), data);
    await slow.uploadStarted;

    store.skipFlushOnClose();
    await store.close();
    expect(catalog.journal.summary('CAS').count).toBe(1);
    expect(catalog.journal.get('CAS', digestOf(data))).toMatchObject({ valueSize: data.length });
  } finally {
    catalog.close();
  }
});
