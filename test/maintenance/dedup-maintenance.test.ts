// gc and verify over a real dedup store (index and chunks in filesystem
// stores, the real catalog): evicting a blob's only index entry forgets it and
// orphans its chunks, which a later gc frees after the grace period while
// chunks shared with a live blob stay; a chunk or an index entry damaged on
// disk (or in its catalog row, for one kept inline) is found, and --repair evicts it so the blob reads as missing and is
// uploaded again.
import { describe, expect, it } from 'vitest';
import { runGc } from '../../src/maintenance/gc.js';
import { runVerify } from '../../src/maintenance/verify.js';
import { hasOne, readBuffer } from '../../src/stores/store.js';
import { digestKey, formatDigest } from '../../src/util/digest.js';
import { type World, damageStoredValue, filesystemAt, maintenanceDeps as deps, putBlob, servers, worldsClosedAfterEach } from './harness.js';
import { deterministicBytes } from '../helpers/data.js';

const world = worldsClosedAfterEach();

const fsStore = (name: string) => filesystemAt(name, { block_size: 1 });

async function dedupWorld(): Promise<World> {
  return world({
    stores: [
      {
        name: 'CAS',
        dedup: {
          index_store: fsStore('index'),
          content_store: fsStore('chunks'),
          min_size: 1024,
          normal_size: 4096,
          max_size: 16384,
        },
      },
    ],
    servers: servers('CAS'),
  });
}

/** The chunks the content store holds, as files or inline in the catalog: its index rows. */
const storedChunks = (w: World) => [...w.catalog.storeEntries.rows('CAS.dedup.content_store')].map((r) => digestKey(r.key)).sort();

describe('gc over a dedup store', () => {
  it('forgets a blob whose only index entry it evicts; its unshared chunks go after the grace period', async () => {
    const w = await dedupWorld();
    const store = w.stores.get('CAS');
    const shared = deterministicBytes(40_000, 1);
    const own = deterministicBytes(40_000, 2);
    const old = await putBlob(store, Buffer.concat([shared, own]));
    w.clock.advance(60_000);
    const live = await putBlob(store, Buffer.concat([shared, deterministicBytes(40_000, 3)]));
    const chunksBefore = storedChunks(w);
    expect(chunksBefore.length).toBeGreaterThan(2);
    const oldChunks = w.catalog.dedup.chunksOf('CAS', old)!;
    const liveChunks = new Set(w.catalog.dedup.chunksOf('CAS', live)!.map(digestKey));
    const onlyOld = oldChunks.filter((c) => !liveChunks.has(digestKey(c)));
    expect(onlyOld.length).toBeGreaterThan(0);
    expect(onlyOld.length).toBeLessThan(oldChunks.length);

    // Idle for an hour: the old blob's index entry goes; chunks other blobs use are only copies and stay.
    w.clock.advance(3_600_000);
    const first = await runGc(deps(w), { olderThanMs: 3_600_000 + 30_000 });
    expect(first.forgottenBlobs).toBe(1);
    expect(first.kept.onlyCopyChunk).toBeGreaterThan(0);
    expect(await hasOne(store, old)).toBeUndefined();
    expect(storedChunks(w)).toEqual(chunksBefore);

    // Still inside the grace period: the new orphans stay.
    const early = await runGc(deps(w), { orphanGraceMs: 60_000 });
    expect(early.tiers.find((t) => t.id.endsWith('content_store'))!.orphanChunks.count).toBe(0);

    w.clock.advance(120_000);
    const later = await runGc(deps(w), { orphanGraceMs: 60_000 });
    const content = later.tiers.find((t) => t.id === 'CAS.dedup.content_store')!;
    expect(content.orphanChunks.count).toBe(onlyOld.length);
    expect(storedChunks(w)).toEqual(chunksBefore.filter((name) => !onlyOld.some((c) => digestKey(c) === name)));
    for (const c of onlyOld) expect(w.catalog.dedup.chunkRefs('CAS', c)).toBe(0);
    expect(w.catalog.dedup.orphanChunks('CAS', w.clock.now() + 1, 100)).toEqual([]);
    // The blob sharing chunks with the forgotten one still reads whole.
    expect((await readBuffer(store, live)).equals(Buffer.concat([shared, deterministicBytes(40_000, 3)]))).toBe(true);
  });
});

describe('verify over a dedup store', () => {
  it('finds a damaged chunk; --repair evicts it, the blob reads as missing and can be uploaded again', async () => {
    const w = await dedupWorld();
    const store = w.stores.get('CAS');
    const data = deterministicBytes(50_000, 7);
    const key = await putBlob(store, data);
    // Chunks of at most 16 KiB: a file or a value inline in the catalog, whichever this one is.
    const chunk = w.catalog.dedup.chunksOf('CAS', key)![1]!;
    damageStoredValue(w, 'chunks', chunk, () => 10, 1);

    const found = await runVerify(deps(w), {});
    expect(found.problems).toEqual([
      expect.objectContaining({ tier: 'CAS.dedup.content_store', role: 'dedup_chunk', digest: formatDigest(chunk), problem: 'corrupt' }),
    ]);

    const fixed = await runVerify(deps(w), { repair: true });
    expect(fixed.problems[0]).toMatchObject({ repair: 'evicted' });
    expect(fixed.ok).toBe(true);
    expect(await hasOne(store, key)).toBeUndefined();
    await putBlob(store, data);
    expect((await readBuffer(store, key)).equals(data)).toBe(true);
    expect((await runVerify(deps(w), {})).found).toBe(0);
  });

  it('finds a damaged index entry; --repair evicts it and forgets the blob', async () => {
    const w = await dedupWorld();
    const store = w.stores.get('CAS');
    const key = await putBlob(store, deterministicBytes(30_000, 8));
    damageStoredValue(w, 'index', key, (length) => length - 3, 0x80);

    const found = await runVerify(deps(w), {});
    expect(found.problems).toEqual([
      expect.objectContaining({ tier: 'CAS.dedup.index_store', role: 'dedup_index', digest: formatDigest(key), problem: 'corrupt' }),
    ]);
    const fixed = await runVerify(deps(w), { repair: true });
    expect(fixed.problems[0]).toMatchObject({ repair: 'evicted' });
    expect(w.catalog.dedup.chunksOf('CAS', key)).toBeUndefined();
    expect(await hasOne(store, key)).toBeUndefined();
  });
});
