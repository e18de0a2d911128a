// How a failed file operation or catalog row of a filesystem-store upload
// reaches the client: a full disk is RESOURCE_EXHAUSTED naming the directory or
// the catalog (the real full disk is test/reliability/disk-full.test.ts),
// anything else INTERNAL.
import Database from 'better-sqlite3';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { uploadWriteError } from '../../src/stores/filesystem/write-errors.js';
import { hasOne, putBuffer, readBuffer } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';

const errno = (code: string, message: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code });

describe('uploadWriteError', () => {
  it.each(['ENOSPC', 'EDQUOT'])('makes %s RESOURCE_EXHAUSTED naming the directory and "disk full"', (code) => {
    const cause = errno(code, `${code}: no space left on device, write`);
    const err = uploadWriteError('filesystem store CAS: upload of abc/3', '/cache/tmp', cause);
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toContain('filesystem store CAS: upload of abc/3 failed: disk full');
    expect(err.message).toContain('/cache/tmp');
    expect(err.cause).toBe(cause);
  });

  it('keeps any other failure INTERNAL with its message', () => {
    const err = uploadWriteError('upload of abc/3', '/cache/tmp', errno('EACCES', 'EACCES: permission denied, open'));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe('upload of abc/3 failed: EACCES: permission denied, open');
    expect(uploadWriteError('upload', '/d', 'not an error').code).toBe('INTERNAL');
  });
});

describe('a filesystem-store upload whose catalog row cannot be written', () => {
  let dir: string;
  tempDirPerTest('ncache-fs-row-', (path) => (dir = path));
  const catalogFull = () => {
    throw new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
  };

  async function open() {
    const catalog = Catalog.open(join(dir, 'state', 'catalog.sqlite'));
    const content = join(dir, 'content');
    const store = new FilesystemStore({ content_path: content, temp_path: join(dir, 'tmp') }, { catalog }, 'CAS');
    await store.start();
    return { catalog, store, content, close: async () => (await store.close(), catalog.close()) };
  }

  it('is refused (RESOURCE_EXHAUSTED) and leaves nothing a restart would have forgotten', async () => {
    const { catalog, store, content, close } = await open();
    const data = deterministicBytes(10_000, 1);
    const digest = digestOf(data);
    const put = vi.spyOn(catalog.storeEntries, 'put').mockImplementation(catalogFull);
    await expect(putBuffer(store, digest, data)).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringContaining(`disk full (SQLITE_FULL): the catalog ${catalog.path} cannot record it`),
    });
    expect(await hasOne(store, digest)).toBeUndefined();
    expect(await readdir(content)).toEqual([]);
    // Space returns: the same upload goes through.
    put.mockRestore();
    await putBuffer(store, digest, data);
    expect((await readBuffer(store, digest)).equals(data)).toBe(true);
    await close();
  });

  it('keeps a blob already recorded when only the re-upload cannot touch its row', async () => {
    const { catalog, store, close } = await open();
    const data = deterministicBytes(10_000, 2);
    const digest = digestOf(data);
    await putBuffer(store, digest, data);
    vi.spyOn(catalog.storeEntries, 'put').mockImplementation(catalogFull);
    await putBuffer(store, digest, data);
    expect((await readBuffer(store, digest)).equals(data)).toBe(true);
    await close();
  });
});
