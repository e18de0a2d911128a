// FilesystemStore indexed by the catalog: real files, a real SQLite catalog.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { parseConfigText } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import type { EvictionPolicy } from '../../src/config/types.js';
import { FilesystemStore, type FilesystemStoreSpec, INLINE_MAX_BYTES } from '../../src/stores/filesystem-store.js';
import { type ByteStream, type StrayFile, putBuffer, readBuffer } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import type { Logger } from '../../src/util/logger.js';
import { repoRoot } from '../helpers/daemon-process.js';
import { requireBuilt, runUntilKilled } from '../helpers/kill-child.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { deterministicBytes } from '../helpers/data.js';
const STORE_ID = 'CAS.verify.backend';
const noLimits: EvictionPolicy = { max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: 0 };

let dir: string;
let content: string;
let temp: string;
let catalogPath: string;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-fs-catalog-'));
  content = join(dir, 'content');
  temp = join(dir, 'tmp');
  catalogPath = join(dir, 'state', 'catalog.sqlite');
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rm(dir, { recursive: true, force: true });
});

function openCatalog(logger?: Logger, clock = new ManualClock()): Catalog {
  const catalog = Catalog.open(catalogPath, { logger, clock });
  cleanups.push(() => catalog.close());
  return catalog;
}

interface Opened {
  store: FilesystemStore;
  logger: Logger & { lines: string[] };
  close(): Promise<void>;
}

async function openStore(
  catalog: Catalog | undefined,
  opts: { policy?: Partial<EvictionPolicy>; clock?: ManualClock; spec?: Partial<FilesystemStoreSpec> } = {},
): Promise<Opened> {
  const logger = collectingLogger();
  const store = new FilesystemStore(
    { content_path: content, temp_path: temp, block_size: 1, ...opts.spec, eviction_policy: { ...noLimits, ...opts.policy } },
    { catalog, logger, clock: opts.clock ?? new ManualClock() },
    catalog === undefined ? undefined : STORE_ID,
  );
  await store.start();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await store.close();
  };
  cleanups.push(close);
  return { store, logger, close };
}

function rowsOf(catalog: Catalog, id = STORE_ID): { key: Digest; storedSize: number; accessedAt: number; inline: boolean }[] {
  return [...catalog.storeEntries.rows(id)];
}

async function listEntries(store: FilesystemStore): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.entries()) out.push(e.key.hash);
  return out;
}

async function strays(store: FilesystemStore): Promise<StrayFile[]> {
  const out: StrayFile[] = [];
  for await (const s of store.strayFiles()) out.push(s);
  return out;
}

async function writeBehindItsBack(data: Buffer): Promise<Digest> {
  const key = digestOf(data);
  await mkdir(content, { recursive: true });
  await writeFile(join(content, digestKey(key)), data);
  return key;
}

describe('FilesystemStore with a catalog index', () => {
  it('first start: scans the directory once, records every file and says so', async () => {
    const existing = [deterministicBytes(300, 1), deterministicBytes(5000, 2)];
    for (const b of existing) await writeBehindItsBack(b);
    const catalog = openCatalog();
    const { store, logger } = await openStore(catalog);
    expect(store.stats()).toMatchObject({ indexSource: 'directory', contentScans: 1, count: 2, bytes: 5300 });
    const line = logger.lines.find((l) => l.includes('catalog has no index for'));
    expect(line).toMatch(
      new RegExp(`^info filesystem store ${STORE_ID}: catalog has no index for ${content}; rebuilt it from the directory: 2 files, 5300 bytes in \\d+ ms$`),
    );
    expect(rowsOf(catalog).map((r) => [r.key, r.storedSize]).sort()).toEqual(existing.map((b) => [digestOf(b), b.length]).sort());
    expect(catalog.storeEntries.indexState(STORE_ID)).toMatchObject({ location: content });
  });

  it('restart: loads the index and LRU order from the catalog without reading the directory', async () => {
    const clock = new ManualClock();
    const catalog = openCatalog(undefined, clock);
    const first = await openStore(catalog, { clock });
    const blobs = [1, 2, 3].map((seed) => deterministicBytes(2000, seed));
    for (const b of blobs) {
      await putBuffer(first.store, digestOf(b), b);
      clock.advance(1000);
    }
    await readBuffer(first.store, digestOf(blobs[0]!)); // now the most recently used
    await first.close(); // flushes access times to the catalog

    // A valid blob file appears behind the store's back: only a directory scan could find it.
    const sneaked = await writeBehindItsBack(deterministicBytes(700, 9));
    const second = await openStore(catalog, { clock });
    expect(second.store.stats()).toMatchObject({ indexSource: 'catalog', contentScans: 0, count: 3, bytes: 6000 });
    expect(second.logger.lines.some((l) => l.includes('loaded 3 blobs, 6000 bytes from the catalog'))).toBe(true);
    expect(second.logger.lines.some((l) => l.includes('rebuilt'))).toBe(false);
    expect(await second.store.has([sneaked])).toEqual([undefined]);
    expect(await listEntries(second.store)).toEqual([blobs[1]!, blobs[2]!, blobs[0]!].map((b) => digestOf(b).hash));
    for (const b of blobs) expect((await readBuffer(second.store, digestOf(b))).equals(b)).toBe(true);
    // gc's view: the sneaked file is content without an index entry.
    expect(await strays(second.store)).toEqual([{ path: join(content, digestKey(sneaked)), size: 700, kind: 'unindexed' }]);
  });

  it('a row whose digest is not a SHA-256 (a damaged or hand-edited catalog) is dropped with a warning, and the rest loads', async () => {
    const catalog = openCatalog();
    const first = await openStore(catalog);
    const good = deterministicBytes(1000, 5);
    await putBuffer(first.store, digestOf(good), good);
    await first.close();
    const bad = [{ hash: 'Z'.repeat(64), sizeBytes: 3 }, { hash: digestOf(good).hash.toUpperCase(), sizeBytes: 1000 }];
    for (const key of bad) catalog.storeEntries.put(STORE_ID, key, key.sizeBytes, 1);

    const second = await openStore(catalog);
    expect(second.store.stats()).toMatchObject({ indexSource: 'catalog', count: 1, bytes: 1000 });
    expect(second.logger.lines.some((l) => l.startsWith('warn') && l.includes('dropped 2 catalog row(s) whose digest is not a SHA-256'))).toBe(true);
    expect((await readBuffer(second.store, digestOf(good))).equals(good)).toBe(true);
    expect(rowsOf(catalog).map((r) => r.key)).toEqual([digestOf(good)]);
  });

  it.each([
    ['read in one piece', 10_000],
    ['streamed', 3 * 1024 * 1024],
  ])('a file deleted behind its back (%s) reads as NOT_FOUND and leaves the index', async (_how, size) => {
    const catalog = openCatalog();
    const { store, logger } = await openStore(catalog);
    const data = deterministicBytes(size, 4);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    expect(rowsOf(catalog)).toHaveLength(1);
    await unlink(join(content, digestKey(key)));
    await expect(store.getPart(key, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.has([key])).toEqual([undefined]);
    expect(rowsOf(catalog)).toEqual([]);
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes('its file is gone'))).toBe(true);
  });

  it('a deleted catalog: the next start rebuilds the index from the directory, saying so', async () => {
    const catalog = openCatalog();
    const first = await openStore(catalog);
    // Files: larger than what is kept inline.
    const blobs = [deterministicBytes(INLINE_MAX_BYTES + 100, 1), deterministicBytes(INLINE_MAX_BYTES + 200, 2)];
    for (const b of blobs) await putBuffer(first.store, digestOf(b), b);
    // Kept inline, so it goes with the catalog: then it reads as missing, as a lost file would.
    const inline = deterministicBytes(300, 3);
    await putBuffer(first.store, digestOf(inline), inline);
    await first.close();
    catalog.close();
    for (const suffix of ['', '-wal', '-shm']) await rm(catalogPath + suffix, { force: true });

    const fresh = openCatalog();
    const second = await openStore(fresh);
    const bytes = 2 * INLINE_MAX_BYTES + 300;
    expect(second.store.stats()).toMatchObject({ indexSource: 'directory', count: 2, bytes });
    expect(second.logger.lines.some((l) => l.includes(`catalog has no index for ${content}; rebuilt it from the directory: 2 files, ${bytes} bytes`))).toBe(true);
    expect(rowsOf(fresh)).toHaveLength(2);
    for (const b of blobs) expect((await readBuffer(second.store, digestOf(b))).equals(b)).toBe(true);
    expect(await second.store.has([digestOf(inline)])).toEqual([undefined]);
  });

  it('a corrupt catalog: moved aside by Catalog.open, and the index is rebuilt from the directory', async () => {
    const catalog = openCatalog();
    const first = await openStore(catalog);
    const blobs = [1, 2, 3].map((n) => deterministicBytes(INLINE_MAX_BYTES + 100 * n, n));
    for (const b of blobs) await putBuffer(first.store, digestOf(b), b);
    await first.close();
    catalog.close();
    for (const suffix of ['-wal', '-shm']) await rm(catalogPath + suffix, { force: true });
    await writeFile(catalogPath, Buffer.alloc(16384, 'not a database at all '));

    const catalogLog = collectingLogger();
    const reopened = openCatalog(catalogLog);
    expect(catalogLog.lines.some((l) => l.startsWith('warn') && l.includes('moved it to'))).toBe(true);
    expect((await readdir(join(dir, 'state'))).some((n) => n.startsWith('catalog.sqlite.corrupt-'))).toBe(true);
    const second = await openStore(reopened);
    const bytes = 3 * INLINE_MAX_BYTES + 600;
    expect(second.store.stats()).toMatchObject({ indexSource: 'directory', count: 3, bytes });
    expect(second.logger.lines.some((l) => l.includes(`rebuilt it from the directory: 3 files, ${bytes} bytes`))).toBe(true);
    for (const b of blobs) expect((await readBuffer(second.store, digestOf(b))).equals(b)).toBe(true);
  });

  it('a changed content_path under the same store id is rescanned, not trusted', async () => {
    const catalog = openCatalog();
    const first = await openStore(catalog);
    await putBuffer(first.store, digestOf(deterministicBytes(100, 1)), deterministicBytes(100, 1));
    await first.close();
    const oldContent = content;
    content = join(dir, 'moved-content');
    const other = deterministicBytes(50, 2);
    await writeBehindItsBack(other);
    const second = await openStore(catalog);
    expect(second.store.stats()).toMatchObject({ indexSource: 'directory', count: 1, bytes: 50 });
    expect(second.logger.lines.some((l) => l.includes(`(its index was of ${oldContent})`))).toBe(true);
    expect(rowsOf(catalog).map((r) => r.key)).toEqual([digestOf(other)]);
  });

  it('eviction and remove() delete the rows as well as the files', async () => {
    const catalog = openCatalog();
    const clock = new ManualClock();
    const { store, close } = await openStore(catalog, { clock, policy: { max_count: 2 } });
    const blobs = [1, 2, 3, 4].map((seed) => deterministicBytes(INLINE_MAX_BYTES + 1, seed));
    for (const b of blobs.slice(0, 3)) {
      await putBuffer(store, digestOf(b), b);
      clock.advance(1000);
    }
    expect(await store.remove(digestOf(blobs[2]!))).toBe(true);
    await putBuffer(store, digestOf(blobs[3]!), blobs[3]!);
    await close(); // waits for the eviction's unlink
    const names = (await readdir(content)).sort();
    expect(names).toEqual([digestKey(digestOf(blobs[1]!)), digestKey(digestOf(blobs[3]!))].sort());
    expect(rowsOf(catalog).map((r) => digestKey(r.key)).sort()).toEqual(names);
  });

  it('keeps access times in the catalog, so the true LRU is evicted after a restart', async () => {
    const clock = new ManualClock();
    const catalog = openCatalog(undefined, clock);
    const first = await openStore(catalog, { clock, policy: { max_count: 3 } });
    const blobs = [1, 2, 3, 4].map((seed) => deterministicBytes(100, seed));
    for (const b of blobs.slice(0, 3)) {
      await putBuffer(first.store, digestOf(b), b);
      clock.advance(1000);
    }
    expect(await first.store.has([digestOf(blobs[0]!)])).toEqual([100]);
    await first.store.flushAtimes();
    expect(rowsOf(catalog).at(-1)!.key).toEqual(digestOf(blobs[0]!));
    await first.close();

    const second = await openStore(catalog, { clock, policy: { max_count: 3 } });
    await putBuffer(second.store, digestOf(blobs[3]!), blobs[3]!);
    expect(await second.store.has([digestOf(blobs[1]!)])).toEqual([undefined]);
    expect(await second.store.has(blobs.filter((_, i) => i !== 1).map(digestOf))).toEqual([100, 100, 100]);
  });

  it('reports temp files of writes in progress as active, and only abandoned ones as strays', async () => {
    const catalog = openCatalog();
    const { store } = await openStore(catalog);
    const data = deterministicBytes(64 * 1024, 5);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let firstChunkTaken!: () => void;
    const taken = new Promise<void>((r) => (firstChunkTaken = r));
    async function* slowSource(): ByteStream {
      yield data.subarray(0, 1000);
      firstChunkTaken();
      await gate;
      yield data.subarray(1000);
    }
    const writing = store.update(digestOf(data), slowSource(), data.length);
    await taken;
    const active = [...store.activeTempFiles()];
    const abandoned = join(temp, `${'c'.repeat(64)}-9.0000.ncache-tmp`);
    try {
      expect(active).toHaveLength(1);
      expect(existsSync(active[0]!)).toBe(true);
      await writeFile(abandoned, 'crash leftover');
      expect(await strays(store)).toEqual([{ path: abandoned, size: 14, kind: 'temp' }]);
    } finally {
      release();
      await writing;
    }
    expect(store.activeTempFiles().size).toBe(0);
    expect(existsSync(active[0]!)).toBe(false);
    expect(await strays(store)).toEqual([{ path: abandoned, size: 14, kind: 'temp' }]);
  });

  it('removeStray deletes a stray, but not a file an upload committed since it was listed', async () => {
    const catalog = openCatalog();
    const { store } = await openStore(catalog);
    // Files (a value kept inline would make a file of its name a stray whatever happens).
    const lost = await writeBehindItsBack(deterministicBytes(INLINE_MAX_BYTES + 300, 6));
    const adopted = deterministicBytes(INLINE_MAX_BYTES + 400, 7);
    await writeBehindItsBack(adopted);
    const listed = await strays(store);
    expect(listed.map((s) => s.kind)).toEqual(['unindexed', 'unindexed']);
    // The same blob is uploaded (and indexed) after the listing.
    await putBuffer(store, digestOf(adopted), adopted);
    const removed = await Promise.all(listed.map((s) => store.removeStray(s)));
    expect(listed.map((s, i) => [s.path, removed[i]])).toEqual(
      expect.arrayContaining([
        [join(content, digestKey(lost)), true],
        [join(content, digestKey(digestOf(adopted))), false],
      ]),
    );
    expect(await readdir(content)).toEqual([digestKey(digestOf(adopted))]);
    expect((await readBuffer(store, digestOf(adopted))).equals(adopted)).toBe(true);
    await expect(store.removeStray({ path: join(dir, 'elsewhere', digestKey(lost)), kind: 'unindexed' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('without a catalog it scans at every start, as before', async () => {
    await writeBehindItsBack(deterministicBytes(10, 1));
    const { store, close } = await openStore(undefined);
    expect(store.stats()).toMatchObject({ indexSource: 'directory', contentScans: 1, count: 1 });
    await close();
    await writeBehindItsBack(deterministicBytes(20, 2));
    const again = await openStore(undefined);
    expect(again.store.stats()).toMatchObject({ indexSource: 'directory', count: 2, bytes: 30 });
  });
});

describe('the daemon builds filesystem stores on its catalog', () => {
  it('first start rebuilds from the directory, a restart loads from the catalog, each store under its own id', async () => {
    const text = JSON.stringify({
      stores: [
        { name: 'CAS', verify: { verify_size: true, backend: { filesystem: { content_path: join(dir, 'cas'), temp_path: join(dir, 'cas-tmp') } } } },
        { name: 'AC', filesystem: { content_path: join(dir, 'ac'), temp_path: join(dir, 'ac-tmp') } },
      ],
      servers: [{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { cas: [{ cas_store: 'CAS' }], ac: [{ ac_store: 'AC' }] } }],
    });
    const config = parseConfigText(text, 'test.json5', {});
    const stateDir = join(dir, 'state');
    const data = deterministicBytes(5000, 3);

    const firstLog = collectingLogger();
    const first = await startDaemon({ config, stateDir, logger: firstLog });
    cleanups.push(() => first.stop({ graceMs: 1000 }));
    await putBuffer(first.stores.get('CAS'), digestOf(data), data);
    await first.stop({ graceMs: 1000 });
    expect(firstLog.lines.filter((l) => l.includes('catalog has no index for')).sort()).toEqual([
      expect.stringContaining(`filesystem store AC: catalog has no index for ${join(dir, 'ac')}`),
      expect.stringContaining(`filesystem store CAS.verify.backend: catalog has no index for ${join(dir, 'cas')}`),
    ]);

    const secondLog = collectingLogger();
    const second = await startDaemon({ config, stateDir, logger: secondLog });
    cleanups.push(() => second.stop({ graceMs: 1000 }));
    expect(secondLog.lines.filter((l) => l.includes('from the catalog')).sort()).toEqual([
      expect.stringContaining('filesystem store AC: loaded 0 blobs, 0 bytes from the catalog'),
      expect.stringContaining('filesystem store CAS.verify.backend: loaded 1 blobs, 5000 bytes from the catalog'),
    ]);
    expect(secondLog.lines.some((l) => l.includes('rebuilt'))).toBe(false);
    expect((await readBuffer(second.stores.get('CAS'), digestOf(data))).equals(data)).toBe(true);
  });
});

describe('FilesystemStore catalog index across SIGKILLs', () => {
  /** Runs the child from blob `first` on, kills it after `writes` acknowledged writes. */
  async function runAndKill(stateDir: string, first: number, writes: number): Promise<void> {
    const script = fileURLToPath(new URL('./filesystem-catalog-child.mjs', import.meta.url));
    let wrote = 0;
    const { signal } = await runUntilKilled(
      script,
      [repoRoot(), stateDir, dir, String(first)],
      (line) => line.startsWith('wrote ') && ++wrote >= writes,
      (child) => cleanups.push(() => child.kill('SIGKILL')),
    );
    expect(signal).toBe('SIGKILL');
  }

  /** No row without its file (or inline value), and each holds exactly the blob its row names. */
  async function checkRows(catalog: Catalog): Promise<number> {
    const rows = rowsOf(catalog, 'CAS');
    for (const row of rows) {
      const bytes = row.inline
        ? catalog.storeEntries.inlineValue('CAS', row.key)
        : await readFile(join(content, digestKey(row.key))).catch(() => undefined);
      expect(bytes, `row ${digestKey(row.key)} (${row.inline ? 'inline' : 'file'}) has no bytes`).toBeDefined();
      expect(bytes!.length).toBe(row.storedSize);
      expect(createHash('sha256').update(bytes!).digest('hex')).toBe(row.key.hash);
    }
    return rows.length;
  }

  it('never leaves a row without its file, and every row reads back intact', async () => {
    requireBuilt('src/catalog/store-entries.js');
    const stateDir = join(dir, 'state');
    // Several kills at random points of a write/evict/remove mix (max_count 40, well below the writes).
    for (let round = 0; round < 6; round++) {
      await runAndKill(stateDir, round * 1000, 80);
      const catalog = Catalog.open(join(stateDir, 'catalog.sqlite'));
      try {
        expect(await checkRows(catalog)).toBeGreaterThan(0);
      } finally {
        catalog.close();
      }
    }

    // A store on the same catalog loads exactly these rows and serves each one.
    const catalog = Catalog.open(join(stateDir, 'catalog.sqlite'));
    cleanups.push(() => catalog.close());
    const rows = rowsOf(catalog, 'CAS');
    const store = new FilesystemStore(
      { content_path: content, temp_path: temp, block_size: 4096, eviction_policy: { ...noLimits, max_count: 40 } },
      { catalog },
      'CAS',
    );
    await store.start();
    cleanups.push(() => store.close());
    expect(store.stats()).toMatchObject({ indexSource: 'catalog', count: rows.length });
    for (const row of rows) expect(digestOf(await readBuffer(store, row.key))).toEqual(row.key);
    // Files without a row (killed between rename and row) are whole blobs, reported for gc.
    for (const s of await strays(store)) {
      expect(s.kind).toBe('unindexed');
      expect(join(content, digestKey(digestOf(await readFile(s.path))))).toBe(s.path);
    }
    // The temp dir was cleaned at start: nothing half-written is left.
    expect(await readdir(temp)).toEqual([]);
  });
});
