// The stores' side of the worker's seam, StoreDriver.linkableFiles(): the
// filesystem store's files (pathOf, adopt by rename, evictModified by inode)
// and fast_slow's forwarding (fills from the slow tier, adopted files
// reaching the slow tier synchronously or through write-behind).
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { NoopStore } from '../../src/stores/noop-store.js';
import { type LinkableFiles, putBuffer, readBuffer } from '../../src/stores/store.js';
import { digestKey, digestOf } from '../../src/util/digest.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups = cleanupsAfterEach();

function linkable(store: { linkableFiles?: () => LinkableFiles }): LinkableFiles {
  const files = store.linkableFiles?.();
  if (files === undefined) throw new Error('no linkableFiles');
  return files;
}

describe('FilesystemStore.linkableFiles', () => {
  it('adopts a file by rename (read-only, indexed, readable), keeps a value already present, and evicts only the inode it is told', async () => {
    const { store: fs, dir } = await startedFilesystemStore(cleanups, { prefix: 'ncache-linkable-' });
    const files = linkable(fs);
    const data = Buffer.from('an output');
    const key = digestOf(data);
    const out = join(dir, 'out');
    await writeFile(out, data);
    const ino = (await stat(out)).ino;
    await files.adopt(key, out);
    await expect(stat(out)).rejects.toThrow('ENOENT');
    const path = await files.pathOf(key);
    expect(path).toBe(join(fs.contentPath, digestKey(key)));
    const st = await stat(path!);
    expect([st.ino, st.mode & 0o777]).toEqual([ino, 0o444]);
    expect((await readBuffer(fs, key)).toString()).toBe('an output');

    // Adopting the same value again keeps the first file.
    await writeFile(out, data);
    await files.adopt(key, out);
    expect((await stat(path!)).ino).toBe(ino);

    expect(await files.evictModified(key, ino + 1)).toBe(false);
    expect(await fs.has([key])).toEqual([data.length]);
    expect(await files.evictModified(key, ino)).toBe(true);
    expect(await fs.has([key])).toEqual([undefined]);
    expect(await files.pathOf(key)).toBeUndefined();
  });

  it('refuses a file whose size is not the digest\'s, storing nothing', async () => {
    const { store: fs, dir } = await startedFilesystemStore(cleanups, { prefix: 'ncache-linkable-' });
    const key = digestOf(Buffer.from('four'));
    const out = join(dir, 'out');
    await writeFile(out, 'five!');
    await expect(linkable(fs).adopt(key, out)).rejects.toThrow('the file has 5 bytes, the digest says 4');
    expect(await fs.has([key])).toEqual([undefined]);
  });
});

describe('FastSlowStore.linkableFiles', () => {
  it('exists only over a fast tier that has it', () => {
    expect(new FastSlowStore(new MemoryStore(), new MemoryStore()).linkableFiles).toBeUndefined();
  });

  it('brings a value only the slow tier holds into the fast tier, and hands adopted files to the slow tier too', async () => {
    const { store: fs, dir } = await startedFilesystemStore(cleanups, { prefix: 'ncache-linkable-' });
    const slow = new MemoryStore();
    const files = linkable(new FastSlowStore(fs, slow));
    const slowOnly = Buffer.from('slow only');
    await putBuffer(slow, digestOf(slowOnly), slowOnly);
    expect(await files.pathOf(digestOf(slowOnly))).toBe(join(fs.contentPath, digestKey(digestOf(slowOnly))));
    expect(await files.pathOf(digestOf(Buffer.from('nowhere')))).toBeUndefined();

    const out = join(dir, 'out');
    await writeFile(out, 'adopted');
    const key = digestOf(Buffer.from('adopted'));
    await files.adopt(key, out);
    expect(await fs.has([key])).toEqual([7]);
    expect((await readBuffer(slow, key)).toString()).toBe('adopted');
  });

  it('adopts over a noop slow tier', async () => {
    const { store: fs, dir } = await startedFilesystemStore(cleanups, { prefix: 'ncache-linkable-' });
    const files = linkable(new FastSlowStore(fs, new NoopStore()));
    const out = join(dir, 'out');
    await writeFile(out, 'kept locally');
    const key = digestOf(Buffer.from('kept locally'));
    await files.adopt(key, out);
    expect(await fs.has([key])).toEqual([12]);
  });

  it('journals an adopted file under write-behind and delivers it to the slow tier', async () => {
    const dir = await tempDir('ncache-linkable-', cleanups);
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    cleanups.push(() => catalog.close());
    const { store: fs } = await startedFilesystemStore(cleanups, { dir: join(dir, 'fast') });
    const slow = new MemoryStore();
    const store = new FastSlowStore(fs, slow, { slowWriteMode: 'async', catalog, storeId: 'CAS', slowTier: 'memory' });
    await store.start();
    cleanups.push(() => store.close());
    const out = join(dir, 'out');
    await writeFile(out, 'behind');
    const key = digestOf(Buffer.from('behind'));
    await linkable(store).adopt(key, out);
    expect(await fs.has([key])).toEqual([6]);
    await store.drained();
    await waitFor(async () => (await slow.has([key]))[0] === 6, { what: 'the adopted blob in the slow tier' });
  });
});
