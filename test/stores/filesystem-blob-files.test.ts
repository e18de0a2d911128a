// FilesystemStore.openBlobFile: an open content file read into the caller's
// buffers, with getPart's answers (range, NOT_FOUND, OUT_OF_RANGE, recency),
// on both sides of SYNC_READ_MAX_BYTES.
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { type FilesystemStore, SYNC_READ_MAX_BYTES } from '../../src/stores/filesystem-store.js';
import { type BlobFile, putBuffer } from '../../src/stores/store.js';
import { digestKey, digestOf } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();
let store: FilesystemStore;

beforeEach(async () => {
  ({ store } = await startedFilesystemStore(cleanups, { prefix: 'ncache-blob-files-', spec: { block_size: 1 } }));
});

async function readAll(file: BlobFile, pieceBytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let pos = file.start; pos < file.end; pos += pieceBytes) {
    const buf = Buffer.alloc(Math.min(pieceBytes, file.end - pos));
    await file.read(buf, pos);
    parts.push(buf);
  }
  await file.close();
  return Buffer.concat(parts);
}

describe('FilesystemStore.openBlobFile', () => {
  for (const [what, size] of [
    ['a small value (read on the event loop)', 300_000],
    ['a large value (read through the thread pool)', SYNC_READ_MAX_BYTES + 70_001],
  ] as const) {
    it(`gives ${what} whole and in ranges, as getPart does`, async () => {
      const data = deterministicBytes(size, size % 13);
      const key = digestOf(data);
      await putBuffer(store, key, data);
      expect((await readAll((await store.openBlobFile(key, 0))!, 65_536)).equals(data)).toBe(true);
      const ranged = (await store.openBlobFile(key, 1000, 5000))!;
      expect([ranged.start, ranged.end]).toEqual([1000, 6000]);
      expect((await readAll(ranged, 4096)).equals(data.subarray(1000, 6000))).toBe(true);
      const tail = (await store.openBlobFile(key, size - 10, 1_000_000))!;
      expect((await readAll(tail, 3)).equals(data.subarray(size - 10))).toBe(true);
      await expect(store.openBlobFile(key, size + 1)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    });
  }

  it('says NOT_FOUND for a key it lacks, and forgets a file deleted behind its back', async () => {
    const data = deterministicBytes(5000, 3);
    const key = digestOf(data);
    await expect(store.openBlobFile(key, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await putBuffer(store, key, data);
    await unlink(join(store.contentPath, digestKey(key)));
    await expect(store.openBlobFile(key, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.has([key])).toEqual([undefined]);
  });

  it('keeps serving an open file when the value is removed meanwhile', async () => {
    const data = deterministicBytes(SYNC_READ_MAX_BYTES * 2, 4);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const file = (await store.openBlobFile(key, 0))!;
    expect(await store.remove(key)).toBe(true);
    expect((await readAll(file, 256 * 1024)).equals(data)).toBe(true);
  });

  it('refuses to read past what the file holds (INTERNAL), never handing back stale bytes', async () => {
    const data = deterministicBytes(4096, 5);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const file = (await store.openBlobFile(key, 0))!;
    await expect(file.read(Buffer.alloc(10), 4090)).rejects.toMatchObject({ code: 'INTERNAL' });
    await file.close();
  });
});
