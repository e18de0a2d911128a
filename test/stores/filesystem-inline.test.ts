// Small values kept inline in the catalog by the filesystem store: a real
// SQLite catalog and real directories; what is (and is not) on disk is read
// back from both.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FilesystemStore, INLINE_MAX_BYTES } from '../../src/stores/filesystem-store.js';
import { type ByteStream, putBuffer, readBuffer } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { digestKey, digestOf } from '../../src/util/digest.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { deterministicBytes } from '../helpers/data.js';

const STORE_ID = 'CAS';
let dir: string;
let content: string;
let catalogPath: string;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-fs-inline-'));
  content = join(dir, 'content');
  catalogPath = join(dir, 'state', 'catalog.sqlite');
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rm(dir, { recursive: true, force: true });
});

function openCatalog(): Catalog {
  const catalog = Catalog.open(catalogPath);
  cleanups.push(() => catalog.close());
  return catalog;
}

async function openStore(catalog: Catalog | undefined, maxCount = 0, clock = new ManualClock()) {
  const logger = collectingLogger();
  const store = new FilesystemStore(
    {
      content_path: content,
      temp_path: join(dir, 'tmp'),
      block_size: 1,
      eviction_policy: { max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: maxCount },
    },
    { catalog, logger, clock },
    catalog === undefined ? undefined : STORE_ID,
  );
  await store.start();
  let closed = false;
  const close = async () => {
    if (!closed) await store.close();
    closed = true;
  };
  cleanups.push(close);
  return { store, logger, close };
}

/** Rows of store_inline_values, read on a connection of their own. */
function inlineValueCount(): number {
  const db = new Database(catalogPath, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM store_inline_values').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function collect(stream: ByteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('FilesystemStore keeps small values inline in its catalog', () => {
  it('a value up to INLINE_MAX_BYTES gets no file; one byte more does', async () => {
    const catalog = openCatalog();
    const { store } = await openStore(catalog);
    const small = deterministicBytes(INLINE_MAX_BYTES, 1);
    const large = deterministicBytes(INLINE_MAX_BYTES + 1, 2);
    await putBuffer(store, digestOf(small), small);
    await putBuffer(store, digestOf(large), large);
    expect(await readdir(content)).toEqual([digestKey(digestOf(large))]);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    const rows = [...catalog.storeEntries.rows(STORE_ID)];
    expect(rows.map((r) => [digestKey(r.key), r.inline]).sort()).toEqual(
      [
        [digestKey(digestOf(small)), true],
        [digestKey(digestOf(large)), false],
      ].sort(),
    );
    expect(catalog.storeEntries.inlineValue(STORE_ID, digestOf(small))?.equals(small)).toBe(true);
    expect(await store.has([digestOf(small), digestOf(large)])).toEqual([small.length, large.length]);
    const entries: { inline?: true }[] = [];
    for await (const e of store.entries()) entries.push(e);
    expect(entries.filter((e) => e.inline === true)).toHaveLength(1);
  });

  it('reads an inline value whole, in ranges and through openBlobFile, and a range past its end is OUT_OF_RANGE', async () => {
    const catalog = openCatalog();
    const { store } = await openStore(catalog);
    const data = deterministicBytes(5000, 3);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
    expect((await collect(await store.getPart(key, 100, 250))).equals(data.subarray(100, 350))).toBe(true);
    expect((await collect(await store.getPart(key, 4990))).equals(data.subarray(4990))).toBe(true);
    await expect(store.getPart(key, 5001)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    const file = await store.openBlobFile(key, 10, 20);
    expect([file.start, file.end]).toEqual([10, 30]);
    const buf = Buffer.alloc(20);
    await file.read(buf, 10);
    expect(buf.equals(data.subarray(10, 30))).toBe(true);
    await expect(file.read(Buffer.alloc(20), 4990)).rejects.toMatchObject({ code: 'INTERNAL' });
    await file.close();
  });

  it('survives a restart: the index says which values are inline, and they read back', async () => {
    const catalog = openCatalog();
    const first = await openStore(catalog);
    const blobs = [10, 4759, 348, INLINE_MAX_BYTES].map((size, i) => deterministicBytes(size, 10 + i));
    for (const b of blobs) await putBuffer(first.store, digestOf(b), b);
    await first.close();
    const second = await openStore(catalog);
    expect(second.store.stats()).toMatchObject({ indexSource: 'catalog', count: blobs.length });
    for (const b of blobs) expect((await readBuffer(second.store, digestOf(b))).equals(b)).toBe(true);
  });

  it('a short or long upload is refused and leaves nothing behind', async () => {
    const catalog = openCatalog();
    const { store } = await openStore(catalog);
    const data = deterministicBytes(1000, 4);
    const key = digestOf(data);
    await expect(store.update(key, (async function* () {
      yield data.subarray(0, 999);
    })(), 1000)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.update(key, (async function* () {
      yield data;
      yield Buffer.from('x');
    })(), 1000)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await store.has([key])).toEqual([undefined]);
    expect([...catalog.storeEntries.rows(STORE_ID)]).toEqual([]);
    expect(inlineValueCount()).toBe(0);
  });

  it('a key that changes size class moves between a file and the catalog, leaving no stale copy', async () => {
    // An action cache entry: the same key, a new value of another size.
    const catalog = openCatalog();
    const { store } = await openStore(catalog);
    const key = digestOf(Buffer.from('an action'));
    const small = deterministicBytes(200, 5);
    const large = deterministicBytes(INLINE_MAX_BYTES * 2, 6);

    await putBuffer(store, key, small);
    await putBuffer(store, key, large);
    expect(await readdir(content)).toEqual([digestKey(key)]);
    expect(inlineValueCount()).toBe(0);
    expect((await readBuffer(store, key)).equals(large)).toBe(true);

    await putBuffer(store, key, small);
    expect(await readdir(content)).toEqual([]);
    expect(inlineValueCount()).toBe(1);
    expect((await readBuffer(store, key)).equals(small)).toBe(true);
    expect([...catalog.storeEntries.rows(STORE_ID)].map((r) => [r.storedSize, r.inline])).toEqual([[200, true]]);
  });

  it('eviction and remove() delete the inline value with its row', async () => {
    const clock = new ManualClock();
    const catalog = openCatalog();
    const { store, close } = await openStore(catalog, 2, clock);
    const blobs = [1, 2, 3, 4].map((seed) => deterministicBytes(100 * seed, seed));
    for (const b of blobs.slice(0, 3)) {
      await putBuffer(store, digestOf(b), b);
      clock.advance(1000);
    }
    expect(await store.remove(digestOf(blobs[2]!))).toBe(true);
    await putBuffer(store, digestOf(blobs[3]!), blobs[3]!);
    await close();
    const kept = [blobs[1]!, blobs[3]!].map((b) => digestKey(digestOf(b))).sort();
    expect([...catalog.storeEntries.rows(STORE_ID)].map((r) => digestKey(r.key)).sort()).toEqual(kept);
    expect(inlineValueCount()).toBe(2);
    expect(await readdir(content)).toEqual([]);
  });

  it('a value gone from the catalog behind the store reads as missing and leaves the index', async () => {
    const catalog = openCatalog();
    const { store, logger } = await openStore(catalog);
    const data = deterministicBytes(700, 7);
    const key = digestOf(data);
    await putBuffer(store, key, data);
    const db = new Database(catalogPath);
    db.prepare('DELETE FROM store_inline_values').run();
    db.close();
    await expect(store.getPart(key, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.has([key])).toEqual([undefined]);
    expect([...catalog.storeEntries.rows(STORE_ID)]).toEqual([]);
    expect(logger.lines.some((l) => l.includes('its value is gone from the catalog'))).toBe(true);
  });

  it('gives the local worker no file to link for an inline value, and reads it quietly for verify', async () => {
    const clock = new ManualClock();
    const catalog = openCatalog();
    const { store } = await openStore(catalog, 0, clock);
    const small = deterministicBytes(64, 8);
    const large = deterministicBytes(INLINE_MAX_BYTES + 64, 9);
    for (const b of [small, large]) await putBuffer(store, digestOf(b), b);
    const linkable = store.linkableFiles();
    expect(await linkable.pathOf(digestOf(small))).toBeUndefined();
    expect(await linkable.pathOf(digestOf(large))).toBe(join(content, digestKey(digestOf(large))));

    // Quiet reads leave the LRU order alone: `small` stays the oldest.
    clock.advance(1000);
    const quiet = store.quietReads();
    expect(quiet.peekSize(digestOf(small))).toBe(64);
    expect((await collect(await quiet.peekPart(digestOf(small), 0))).equals(small)).toBe(true);
    const order: string[] = [];
    for await (const e of store.entries()) order.push(digestKey(e.key));
    expect(order[0]).toBe(digestKey(digestOf(small)));
  });

  it('a file left under the name of a value now kept inline is a stray for gc, and removing it keeps the value', async () => {
    // What a crash leaves between committing a small action result and unlinking the file it replaced.
    const catalog = openCatalog();
    const { store } = await openStore(catalog);
    const key = digestOf(Buffer.from('an action'));
    const small = deterministicBytes(300, 12);
    await putBuffer(store, key, small);
    const leftover = join(content, digestKey(key));
    await writeFile(leftover, deterministicBytes(INLINE_MAX_BYTES * 2, 13));
    const strays: string[] = [];
    for await (const s of store.strayFiles()) strays.push(`${s.kind} ${s.path}`);
    expect(strays).toEqual([`unindexed ${leftover}`]);
    expect(await store.removeStray({ path: leftover, kind: 'unindexed' })).toBe(true);
    expect(await readdir(content)).toEqual([]);
    expect((await readBuffer(store, key)).equals(small)).toBe(true);
  });

  it('without a catalog every value is a file', async () => {
    const { store } = await openStore(undefined);
    const data = deterministicBytes(100, 11);
    await putBuffer(store, digestOf(data), data);
    expect(await readdir(content)).toEqual([digestKey(digestOf(data))]);
    expect((await readBuffer(store, digestOf(data))).equals(data)).toBe(true);
  });
});
