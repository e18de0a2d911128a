// PinningStore: a key is pinned while an upload streams into it and while a
// read streams out of it, and released at the end, on failure and on abandon.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGc } from '../../src/maintenance/gc.js';
import { PinRegistry } from '../../src/maintenance/pins.js';
import { PinningStore } from '../../src/maintenance/pinning-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { putBuffer } from '../../src/stores/store.js';
import { VerifyStore } from '../../src/stores/verify-store.js';
import { digestOf } from '../../src/util/digest.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { filesystemAt, maintenanceDeps, servers, worldsClosedAfterEach } from './harness.js';

const cleanups = cleanupsAfterEach();

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

  it('pins an open blob file until it is closed, and not after a miss', async () => {
    const pins = new PinRegistry();
    const { store: files } = await startedFilesystemStore(cleanups, { prefix: 'ncache-pin-file-', spec: { block_size: 1 } });
    const store = new PinningStore(files, pins);
    const data = Buffer.alloc(5000, 9);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const file = (await store.openBlobFile(key, 0))!;
    expect(pins.isPinned(key)).toBe(true);
    const got = Buffer.alloc(5000);
    await file.read(got, 0);
    expect(got.equals(data)).toBe(true);
    await file.close();
    expect(pins.isPinned(key)).toBe(false);
    await expect(store.openBlobFile(digestOf(Buffer.from('absent')), 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(pins.isPinned(digestOf(Buffer.from('absent')))).toBe(false);
    // A store that cannot hand out files says so, and pins nothing.
    expect(await new PinningStore(new MemoryStore(), pins).openBlobFile(key, 0)).toBeUndefined();
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

describe('PinningStore over a filesystem store (what a local worker gets)', () => {
  const world = worldsClosedAfterEach();

  it('forwards linkableFiles, pinning an adopted output while it is handed over; gc then spares it while pinned and evicts it after', async () => {
    const w = await world({ stores: [{ name: 'CAS', ...filesystemAt('cas') }], servers: servers('CAS') });
    const pins = new PinRegistry();
    const store = new PinningStore(w.stores.get('CAS'), pins);
    const files = store.linkableFiles?.();
    expect(files?.contentPath).toBe(w.stores.get('CAS').linkableFiles?.().contentPath);

    const data = Buffer.from('an output file the action wrote');
    const key = digestOf(data);
    const output = join(files!.contentPath, '..', 'output');
    writeFileSync(output, data);
    const adoption = files!.adopt(key, output);
    expect(pins.isPinned(key)).toBe(true);
    await adoption;
    expect(pins.isPinned(key)).toBe(false);
    expect(await store.has([key])).toEqual([data.length]);

    // While a worker holds it (pathOf pins the same way), gc keeps it.
    const release = pins.pin(key);
    const kept = await runGc(maintenanceDeps(w, pins), { targetBytes: 0 });
    expect(kept.kept.pinned).toBe(1);
    expect(await store.has([key])).toEqual([data.length]);
    release();
    const evicted = await runGc(maintenanceDeps(w, pins), { targetBytes: 0 });
    expect(evicted.freed.count).toBe(1);
    expect(await store.has([key])).toEqual([undefined]);
  });
});
