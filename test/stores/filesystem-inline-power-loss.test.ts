// The promise for values kept inline in the catalog under an OS crash or a
// power cut: the last seconds of uploads may be lost, but a value is either
// whole or missing, never torn. The catalog's WAL (synchronous=NORMAL) is not
// synced per commit, so a power cut leaves it cut short or with a page half
// written. This test takes a copy of a live catalog's files, cuts or damages
// the WAL at many points as the disk might have kept it, and opens a real
// catalog and filesystem store on each: every value the store lists must read
// back and hash to its key.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FilesystemStore, INLINE_MAX_BYTES } from '../../src/stores/filesystem-store.js';
import { putBuffer, readBuffer } from '../../src/stores/store.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';

const STORE_ID = 'CAS';
const VALUES = 60;
/** WAL layout (sqlite.org/fileformat.html): a 32-byte header, then frames of a 24-byte header and a page. */
const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-inline-power-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function storeAt(root: string, catalog: Catalog): FilesystemStore {
  return new FilesystemStore(
    { content_path: join(root, 'content'), temp_path: join(root, 'tmp'), block_size: 1 },
    { catalog },
    STORE_ID,
  );
}

/** Writes VALUES small values, then copies the live catalog's files (database and WAL) into `snapshot`. */
async function liveCatalogSnapshot(snapshot: string): Promise<{ keys: Digest[]; pageBytes: number }> {
  const live = join(dir, 'live');
  const catalog = Catalog.open(join(live, 'state', 'catalog.sqlite'));
  const store = storeAt(live, catalog);
  await store.start();
  const keys: Digest[] = [];
  for (let i = 0; i < VALUES; i++) {
    const data = deterministicBytes(1 + ((i * 2713) % INLINE_MAX_BYTES), i);
    keys.push(digestOf(data));
    await putBuffer(store, keys[i]!, data);
  }
  // Copied while the daemon would still be running: what the disk holds is
  // the database file plus a WAL nobody has checkpointed yet.
  mkdirSync(snapshot, { recursive: true });
  for (const suffix of ['', '-wal']) copyFileSync(catalog.path + suffix, join(snapshot, `catalog.sqlite${suffix}`));
  const pageBytes = readFileSync(catalog.path + '-wal').readUInt32BE(8);
  await store.close();
  catalog.close();
  return { keys, pageBytes };
}

/**
 * Puts the snapshot back as the live store's catalog, its WAL changed by
 * `damage` (the shared-memory index is rebuilt from the files, as after a
 * reboot), and opens a catalog and the store on it, at the same content_path
 * (another path would make the store rebuild its index from that directory).
 * Returns how many values the store lists and how many read back.
 */
async function reopenAfter(snapshot: string, name: string, damage: (wal: string) => void): Promise<{ listed: number; readable: number }> {
  const root = join(dir, 'live');
  const state = join(root, 'state');
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state);
  for (const suffix of ['', '-wal']) copyFileSync(join(snapshot, `catalog.sqlite${suffix}`), join(state, `catalog.sqlite${suffix}`));
  damage(join(state, 'catalog.sqlite-wal'));
  const catalog = Catalog.open(join(state, 'catalog.sqlite'));
  const store = storeAt(root, catalog);
  try {
    await store.start();
    let listed = 0;
    let readable = 0;
    for await (const entry of store.entries()) {
      listed += 1;
      const data = await readBuffer(store, entry.key);
      // Whole or not at all: a value that reads back is exactly the one its key names.
      expect(createHash('sha256').update(data).digest('hex'), `${name}: ${entry.key.hash}`).toBe(entry.key.hash);
      expect(data.length).toBe(entry.key.sizeBytes);
      readable += 1;
    }
    return { listed, readable };
  } finally {
    await store.close();
    catalog.close();
  }
}

describe('values kept inline in the catalog across a power cut', () => {
  it('a WAL cut short anywhere loses the last values whole, never a torn one', async () => {
    const snapshot = join(dir, 'snapshot');
    const { pageBytes } = await liveCatalogSnapshot(snapshot);
    const walBytes = statSync(join(snapshot, 'catalog.sqlite-wal')).size;
    const frameBytes = FRAME_HEADER_BYTES + pageBytes;
    expect(walBytes).toBeGreaterThan(WAL_HEADER_BYTES + 20 * frameBytes);

    const whole = await reopenAfter(snapshot, 'whole', () => {});
    expect(whole).toEqual({ listed: VALUES, readable: VALUES });

    // Cuts inside a frame's header, inside a page and on frame boundaries, across the whole WAL.
    const cuts = new Set<number>();
    for (let n = 1; n <= 24; n++) {
      const frame = Math.floor(((walBytes - WAL_HEADER_BYTES) / frameBytes) * (n / 25));
      const base = WAL_HEADER_BYTES + frame * frameBytes;
      cuts.add(base);
      cuts.add(base + 7);
      cuts.add(base + FRAME_HEADER_BYTES + Math.floor(pageBytes / 2));
    }
    let previous = -1;
    const survivors = new Set<number>();
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const after = await reopenAfter(snapshot, `cut-${cut}`, (wal) => truncateSync(wal, cut));
      expect(after.readable).toBe(after.listed);
      // A longer surviving WAL never holds fewer values.
      expect(after.listed).toBeGreaterThanOrEqual(previous);
      previous = after.listed;
      survivors.add(after.listed);
    }
    expect(previous).toBeLessThan(VALUES);
    // The cuts landed all along the uploads, not only before or after them.
    expect([...survivors].filter((n) => n > 0 && n < VALUES).length).toBeGreaterThan(10);
  });

  it('a page half written in the WAL (a torn sector) drops that commit and the ones after it, nothing else', async () => {
    const snapshot = join(dir, 'snapshot');
    const { pageBytes } = await liveCatalogSnapshot(snapshot);
    const walBytes = statSync(join(snapshot, 'catalog.sqlite-wal')).size;
    const frameBytes = FRAME_HEADER_BYTES + pageBytes;
    const frames = Math.floor((walBytes - WAL_HEADER_BYTES) / frameBytes);
    for (const frame of [Math.floor(frames / 3), Math.floor((2 * frames) / 3), frames - 1]) {
      const after = await reopenAfter(snapshot, `torn-${frame}`, (wal) => {
        const bytes = readFileSync(wal);
        // The second half of the frame's page is what an older write left there.
        const from = WAL_HEADER_BYTES + frame * frameBytes + FRAME_HEADER_BYTES + pageBytes / 2;
        bytes.fill(0xa5, from, from + pageBytes / 2);
        writeFileSync(wal, bytes);
      });
      expect(after.readable).toBe(after.listed);
      expect(after.listed).toBeLessThan(VALUES);
    }
  });
});
