// SIGKILL during dedup uploads: a child process uploads blobs through a
// DedupStore (real filesystem stores, real catalog) and is killed mid-upload,
// or stalled right before or right after an index entry write. A store
// reopened on the same files must never hold a committed row for a blob that
// cannot be read, and every chunk's reference count must match the rows.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import type { DedupSpec } from '../../src/config/types.js';
import { DedupStore } from '../../src/stores/dedup-store.js';
import { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { readBuffer } from '../../src/stores/store.js';
import { systemClock } from '../../src/util/clock.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { silentLogger } from '../../src/util/logger.js';
import { repoRoot } from '../helpers/daemon-process.js';
import { requireBuilt, runUntilKilled } from '../helpers/kill-child.js';
import { dedupRefsConsistency } from '../helpers/dedup-consistency.js';
// @ts-expect-error plain ESM helper shared with the child process
import { CRASH_SPEC, crashBlob } from './dedup-crash-blobs.mjs';
import { tempDirPerTest } from '../helpers/temp-dir.js';

const blobOf = crashBlob as (i: number) => Buffer;
const spec = CRASH_SPEC as DedupSpec;
const STORE_ID = 'CAS.dedup';

/** Runs the child until `killWhen` says so on one of its lines, then SIGKILLs it. Returns the last acked index. */
async function runChildUntil(dir: string, args: string[], killWhen: (line: string) => boolean): Promise<number> {
  requireBuilt('src/stores/dedup-store.js');
  const script = fileURLToPath(new URL('./dedup-crash-child.mjs', import.meta.url));
  let acked = -1;
  const { signal } = await runUntilKilled(script, [repoRoot(), dir, ...args], (line) => {
    const m = /^acked (\d+)$/.exec(line);
    if (m) acked = Number(m[1]);
    return killWhen(line);
  });
  expect(signal).toBe('SIGKILL');
  return acked;
}

/** The state of a blob's row, read by another connection while the child is stalled (WAL allows it). */
function rowState(dir: string, blob: Digest): string | undefined {
  const db = new Database(join(dir, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare('SELECT state FROM dedup_blobs WHERE store_id = ? AND hash = ? AND size = ?')
      .get(STORE_ID, blob.hash, blob.sizeBytes) as { state: string } | undefined;
    return row?.state;
  } finally {
    db.close();
  }
}

describe('dedup store across a SIGKILL', () => {
  let dir: string;
  tempDirPerTest('ncache-dedup-kill-', (path) => (dir = path));

  /** Reopens everything on the child's files and checks the catalog against the stores. */
  async function reopenAndCheck(lastAcked: number, upTo: number) {
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    const fsSpec = (name: string) => ({
      kind: 'filesystem' as const,
      content_path: join(dir, name, 'content'),
      temp_path: join(dir, name, 'tmp'),
      read_buffer_size: 0,
      block_size: 4096,
    });
    const index = new FilesystemStore(fsSpec('index'), { logger: silentLogger, clock: systemClock });
    const content = new FilesystemStore(fsSpec('content'), { logger: silentLogger, clock: systemClock });
    await index.start();
    await content.start();
    const ctx = { logger: silentLogger, clock: systemClock, storeByName: () => { throw new Error('none'); }, catalog };
    const store = new DedupStore(spec, index, content, ctx, STORE_ID);
    await store.start();

    expect(catalog.dedup.pendingBlobs(STORE_ID)).toEqual([]);
    expect(dedupRefsConsistency(catalog.path)).toEqual({ mismatches: [], dangling: 0 });
    const byHash = new Map<string, number>();
    for (let i = 0; i <= upTo; i++) byHash.set(digestOf(blobOf(i)).hash, i);
    // Every committed row reads back as exactly its blob.
    const committed = [...catalog.dedup.blobs(STORE_ID)];
    for (const b of committed) {
      const i = byHash.get(b.digest.hash);
      expect(i, `committed row for an unknown blob ${b.digest.hash}`).toBeDefined();
      expect((await readBuffer(store, b.digest)).equals(blobOf(i!)), `blob ${i}`).toBe(true);
    }
    // Every acknowledged blob is there.
    for (let i = 0; i <= lastAcked; i++) {
      expect(catalog.dedup.blobState(STORE_ID, digestOf(blobOf(i))), `acked blob ${i}`).toBe('committed');
    }
    return { catalog, store, index, content, committed, close: async () => {
      await store.close();
      await index.close?.();
      await content.close?.();
      catalog.close();
    } };
  }

  it('killed at random points of a stream of uploads: only readable blobs are committed, references add up', async () => {
    const acked = await runChildUntil(dir, ['run'], (line) => line === 'acked 5');
    const world = await reopenAndCheck(acked, acked + 3);
    expect(world.committed.length).toBeGreaterThanOrEqual(acked + 1);
    await world.close();
  });

  it('killed after the pending row, before the index entry: the blob is rolled back and reads as missing', async () => {
    const stalled = digestOf(blobOf(3));
    const acked = await runChildUntil(dir, ['before-index', '3'], (line) => {
      if (line !== 'stalled 3') return false;
      expect(rowState(dir, stalled)).toBe('pending');
      return true;
    });
    expect(acked).toBe(2);
    const world = await reopenAndCheck(acked, 3);
    expect(world.catalog.dedup.blobState(STORE_ID, stalled)).toBeUndefined();
    expect(await world.store.has([stalled])).toEqual([undefined]);
    // Its chunks are there, unreferenced unless another blob uses them; a re-upload completes it.
    await world.close();
  });

  it('killed after the index entry, before the commit: the blob is committed at start and reads back', async () => {
    const stalled = digestOf(blobOf(2));
    const acked = await runChildUntil(dir, ['after-index', '2'], (line) => {
      if (line !== 'stalled 2') return false;
      expect(rowState(dir, stalled)).toBe('pending');
      return true;
    });
    expect(acked).toBe(1);
    const world = await reopenAndCheck(acked, 2);
    expect(world.catalog.dedup.blobState(STORE_ID, stalled)).toBe('committed');
    expect((await readBuffer(world.store, stalled)).equals(blobOf(2))).toBe(true);
    await world.close();
  });
});
