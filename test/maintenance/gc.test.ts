// gc over real stores (filesystem files in a temp dir, memory, a real catalog,
// s3rver as the remote tier): LRU to a target merged across leaves, idle
// eviction, dry run, and the safety rules (pins, owed uploads, remote tiers).
import { existsSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGc } from '../../src/maintenance/gc.js';
import { PinRegistry } from '../../src/maintenance/pins.js';
import { hasOne, readBuffer } from '../../src/stores/store.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { S3RVER_CREDENTIALS, type S3rverHandle, s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { type World, filesystemAt, maintenanceDeps as deps, putBlob, servers, worldsClosedAfterEach } from './harness.js';
import { deterministicBytes } from '../helpers/data.js';

const world = worldsClosedAfterEach();

const fsStore = (name: string) => filesystemAt(name, { block_size: 1 });

/** CAS on the filesystem, AC in memory, both local. */
function localConfig(): Record<string, unknown> {
  return {
    stores: [
      { name: 'CAS', ...fsStore('cas') },
      { name: 'AC', memory: {} },
    ],
    servers: servers('CAS', 'AC'),
  };
}

/** Writes CAS blobs of 9000 bytes (files, not inline) at t = 0, 1, 2, 3 s and AC values of 100 bytes at 0.5 s and 2.5 s. */
async function fill(w: World): Promise<{ cas: Digest[]; ac: Digest[] }> {
  const cas: Digest[] = [];
  const ac: Digest[] = [];
  const start = w.clock.now();
  const at = (ms: number) => w.clock.advance(start + ms - w.clock.now());
  for (let i = 0; i < 4; i++) {
    at(i * 1000);
    cas.push(await putBlob(w.stores.get('CAS'), deterministicBytes(9000, i + 1)));
    if (i === 0 || i === 2) {
      at(i * 1000 + 500);
      ac.push(await putBlob(w.stores.get('AC'), deterministicBytes(100, 100 + i)));
    }
  }
  return { cas, ac };
}

async function present(w: World, store: string, keys: Digest[]): Promise<boolean[]> {
  const sizes = await w.stores.get(store).has(keys);
  return sizes.map((s) => s !== undefined);
}

describe('gc over local tiers', () => {
  it('evicts least recently used entries merged across leaves until the target is met', async () => {
    const w = await world(localConfig());
    const { cas, ac } = await fill(w);
    // 36200 bytes; a target of 18100 takes cas[0] (t0), ac[0] (t0.5), cas[1] (t1) and stops.
    const report = await runGc(deps(w), { targetBytes: 18100 });
    expect(report.localBytesBefore).toBe(36200);
    expect(report.localBytesAfter).toBe(18100);
    expect(report.targetReached).toBe(true);
    expect(report.freed).toEqual({ count: 3, bytes: 18100 });
    const byId = Object.fromEntries(report.tiers.map((t) => [t.id, t]));
    expect(byId['CAS']!.evicted).toEqual({ count: 2, bytes: 18000 });
    expect(byId['AC']!.evicted).toEqual({ count: 1, bytes: 100 });
    expect(await present(w, 'CAS', cas)).toEqual([false, false, true, true]);
    expect(await present(w, 'AC', ac)).toEqual([false, true]);
    expect(existsSync(join(w.dir, 'cas', 'content', digestKey(cas[0]!)))).toBe(false);
    expect(existsSync(join(w.dir, 'cas', 'content', digestKey(cas[2]!)))).toBe(true);
  });

  it('--dry-run reports the same plan and changes nothing', async () => {
    const w = await world(localConfig());
    const { cas, ac } = await fill(w);
    const dry = await runGc(deps(w), { targetBytes: 18100, dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.freed).toEqual({ count: 3, bytes: 18100 });
    expect(dry.localBytesAfter).toBe(18100);
    expect(await present(w, 'CAS', cas)).toEqual([true, true, true, true]);
    expect(await present(w, 'AC', ac)).toEqual([true, true]);
    for (const key of cas) expect(existsSync(join(w.dir, 'cas', 'content', digestKey(key)))).toBe(true);
  });

  it('--older-than evicts only what was idle that long', async () => {
    const w = await world(localConfig());
    const { cas, ac } = await fill(w);
    // now = 3 s; idle longer than 1.5 s: cas[0], ac[0], cas[1].
    const report = await runGc(deps(w), { olderThanMs: 1500 });
    expect(report.freed.count).toBe(3);
    expect(await present(w, 'CAS', cas)).toEqual([false, false, true, true]);
    expect(await present(w, 'AC', ac)).toEqual([false, true]);
  });

  it('without a target or an age evicts nothing', async () => {
    const w = await world(localConfig());
    const { cas } = await fill(w);
    const report = await runGc(deps(w), {});
    expect(report.freed.count).toBe(0);
    expect(await present(w, 'CAS', cas)).toEqual([true, true, true, true]);
  });

  it('keeps pinned keys and keys the upload journal owes the slow tier, and frees them once released', async () => {
    const w = await world({
      stores: [{ name: 'CAS', fast_slow: { fast: fsStore('fast'), slow: { memory: {} } } }],
      servers: servers('CAS'),
    });
    const store = w.stores.get('CAS');
    const keys: Digest[] = [];
    for (let i = 0; i < 3; i++) {
      w.clock.advance(1000);
      // Files, not values kept inline in the catalog: the test looks for them on disk.
      keys.push(await putBlob(store, deterministicBytes(9000, 10 + i)));
    }
    const pins = new PinRegistry();
    const release = pins.pin(keys[0]!);
    // The fast_slow store's id in the catalog is its config name.
    w.catalog.journal.enqueue('CAS', keys[1]!, 9000, w.clock.now());

    const report = await runGc(deps(w, pins), { targetBytes: 0 });
    const fast = report.tiers.find((t) => t.id === 'CAS.fast_slow.fast')!;
    const slow = report.tiers.find((t) => t.id === 'CAS.fast_slow.slow')!;
    expect(fast.evicted.count).toBe(1); // keys[2]
    expect(slow.evicted.count).toBe(2); // keys[1], keys[2]: nothing owed there
    expect(report.kept).toMatchObject({ pinned: 2, owed: 1 });
    const fastDir = join(w.dir, 'fast', 'content');
    expect(existsSync(join(fastDir, digestKey(keys[0]!)))).toBe(true);
    expect(existsSync(join(fastDir, digestKey(keys[1]!)))).toBe(true);
    expect(existsSync(join(fastDir, digestKey(keys[2]!)))).toBe(false);

    release();
    w.catalog.journal.drop('CAS', keys[1]!);
    const again = await runGc(deps(w, pins), { targetBytes: 0 });
    expect(again.freed.count).toBe(3); // keys[0] in both tiers, keys[1] in fast
    expect(again.localBytesAfter).toBe(0);
    expect(existsSync(join(fastDir, digestKey(keys[0]!)))).toBe(false);
  });

  it('drops index entries whose file vanished', async () => {
    const w = await world(localConfig());
    const { cas } = await fill(w);
    // Kept inline in the catalog: no file, and not a vanished one either.
    const inline = await putBlob(w.stores.get('CAS'), deterministicBytes(500, 9));
    unlinkSync(join(w.dir, 'cas', 'content', digestKey(cas[1]!)));
    const dry = await runGc(deps(w), { dryRun: true });
    expect(dry.tiers.find((t) => t.id === 'CAS')!.vanishedRows).toBe(1);
    const report = await runGc(deps(w), {});
    expect(report.tiers.find((t) => t.id === 'CAS')!.vanishedRows).toBe(1);
    const listed: string[] = [];
    for await (const entry of w.stores.get('CAS').entries!()) listed.push(digestKey(entry.key));
    expect(listed).not.toContain(digestKey(cas[1]!));
    expect(listed).toContain(digestKey(inline));
    expect(listed).toHaveLength(4);
  });

  it('removes stray files: temp files of no upload in progress and unindexed blob files; leaves foreign names alone', async () => {
    const w = await world(localConfig());
    await fill(w);
    const stray = deterministicBytes(300, 77);
    const strayKey = `${digestOf(stray).hash}-${stray.length}`;
    writeFileSync(join(w.dir, 'cas', 'tmp', `${strayKey}.0000-dead.ncache-tmp`), stray);
    writeFileSync(join(w.dir, 'cas', 'content', strayKey), stray);
    writeFileSync(join(w.dir, 'cas', 'content', 'README.txt'), 'not ours');
    const dry = await runGc(deps(w), { dryRun: true });
    expect(dry.tiers.find((t) => t.id === 'CAS')!.strayFiles).toEqual({ count: 2, bytes: 600 });
    expect(existsSync(join(w.dir, 'cas', 'content', strayKey))).toBe(true);
    const report = await runGc(deps(w), {});
    expect(report.tiers.find((t) => t.id === 'CAS')!.strayFiles).toEqual({ count: 2, bytes: 600 });
    expect(readdirSync(join(w.dir, 'cas', 'tmp'))).toEqual([]);
    expect(existsSync(join(w.dir, 'cas', 'content', strayKey))).toBe(false);
    expect(existsSync(join(w.dir, 'cas', 'content', 'README.txt'))).toBe(true);
  });

  it('compacts the catalog', async () => {
    const w = await world(localConfig());
    await fill(w);
    const report = await runGc(deps(w), {});
    expect(report.catalog.error).toBeUndefined();
    expect(report.catalog.bytesAfter).toBe(w.catalog.fileBytes());
  });
});

describe('gc with an S3 slow tier', () => {
  let s3: S3rverHandle;
  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['ncache-gc'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });

  async function objectCount(): Promise<number> {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
    try {
      const out = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
      return out.KeyCount ?? 0;
    } finally {
      client.destroy();
    }
  }

  it('never deletes from the bucket; evicted blobs still read through the slow tier', async () => {
    const config = {
      stores: [
        {
          name: 'CAS',
          fast_slow: {
            fast: fsStore('fast'),
            slow: {
              experimental_cloud_object_store: {
                provider: 'aws',
                region: 'us-east-1',
                bucket: s3.bucket,
                key_prefix: 'cas/',
                endpoint: s3.endpoint,
                insecure_allow_http: true,
              },
            },
          },
        },
      ],
      servers: servers('CAS'),
    };
    const w = await world(config, s3rverEnv());
    const keys: Digest[] = [];
    for (let i = 0; i < 4; i++) {
      w.clock.advance(1000);
      keys.push(await putBlob(w.stores.get('CAS'), deterministicBytes(2000, 50 + i)));
    }
    const before = await objectCount();
    expect(before).toBe(4);

    const report = await runGc(deps(w), { targetBytes: 0 });
    expect(report.remoteTiers).toEqual(['CAS.fast_slow.slow']);
    expect(report.tiers.map((t) => t.id)).toEqual(['CAS.fast_slow.fast']);
    expect(report.freed).toEqual({ count: 4, bytes: 8000 });
    expect(await objectCount()).toBe(before);
    // Read back through fast_slow: served (and refilled) from S3.
    expect((await readBuffer(w.stores.get('CAS'), keys[0]!)).equals(deterministicBytes(2000, 50))).toBe(true);
    expect(await hasOne(w.stores.get('CAS'), keys[3]!)).toBe(2000);
  });
});
