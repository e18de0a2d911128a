import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { bufferStream, putBuffer, readBuffer } from '../../src/stores/store.js';
import { VerifyStore } from '../../src/stores/verify-store.js';
import { type Digest, digestOf, formatDigest } from '../../src/util/digest.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';

const both = { verifySize: true, verifyHash: true };

describe('VerifyStore', () => {
  it('accepts bytes that match their digest', async () => {
    const store = new VerifyStore(new MemoryStore(), both);
    const data = Buffer.from('correct bytes');
    await store.update(digestOf(data), bufferStream(data, 3), data.length);
    expect((await readBuffer(store, digestOf(data))).equals(data)).toBe(true);
  });

  it('rejects bytes whose hash differs, naming the digest and what was received', async () => {
    const backend = new MemoryStore();
    const store = new VerifyStore(backend, both);
    const data = Buffer.from('claimed bytes');
    const key = digestOf(data);
    const other = Buffer.from('other  bytes!');
    const err = await store.update(key, bufferStream(other), other.length).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('INVALID_ARGUMENT');
    expect(err?.message).toContain(formatDigest(key));
    expect(err?.message).toContain(digestOf(other).hash);
    expect(await backend.has([key])).toEqual([undefined]);
  });

  it('rejects a size that differs from the digest, declared or received', async () => {
    const backend = new MemoryStore();
    const store = new VerifyStore(backend, { verifySize: true, verifyHash: false });
    const data = Buffer.from('twelve bytes');
    const key = digestOf(data);
    await expect(store.update(key, bufferStream(data), 11)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const longer: Digest = { hash: key.hash, sizeBytes: 5 };
    const err = await store.update(longer, bufferStream(data), 5).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('INVALID_ARGUMENT');
    expect(err?.message).toContain(formatDigest(longer));
    expect(await backend.has([key, longer])).toEqual([undefined, undefined]);
  });

  it('passes anything through when both checks are off', async () => {
    const store = new VerifyStore(new MemoryStore(), { verifySize: false, verifyHash: false });
    const key: Digest = { hash: 'f'.repeat(64), sizeBytes: 3 };
    await putBuffer(store, key, Buffer.from('not matching at all'));
    expect((await readBuffer(store, key)).toString()).toBe('not matching at all');
  });

  describe('over a filesystem store', () => {
    const cleanups = cleanupsAfterEach();

    it('leaves no file behind for a bad hash', async () => {
      const { store: fs } = await startedFilesystemStore(cleanups, { prefix: 'ncache-verify-' });
      const store = new VerifyStore(fs, both);
      const data = Buffer.alloc(3 * 1024 * 1024, 7);
      const key = digestOf(data);
      data[data.length - 1] = 8; // corrupt the last byte: detected only at the end
      await expect(store.update(key, bufferStream(data, 64 * 1024), data.length)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(await readdir(fs.contentPath)).toEqual([]);
      expect(await readdir(fs.tempPath)).toEqual([]);
      expect(await store.has([key])).toEqual([undefined]);
    });
  });
});
