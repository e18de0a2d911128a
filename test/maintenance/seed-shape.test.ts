// gc and verify over the seed config's shape (verify -> dedup { index:
// fast_slow(memory, S3), content: compression(lz4) -> fast_slow(memory, S3) },
// AC fast_slow(memory, S3)) against s3rver: every leaf is classified and read
// through its own layers; a damaged chunk object in the bucket is restored
// from the memory tier (a PUT, never a DELETE); gc empties the memory tiers
// without deleting an object, and every blob still reads from S3.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGc } from '../../src/maintenance/gc.js';
import { classifyLeaves } from '../../src/maintenance/tiers.js';
import { runVerify } from '../../src/maintenance/verify.js';
import { readBuffer } from '../../src/stores/store.js';
import { digestKey, formatDigest } from '../../src/util/digest.js';
import { bucketClient, listObjects } from '../helpers/s3-daemon.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { type World, maintenanceDeps as deps, putBlob, servers, worldsClosedAfterEach } from './harness.js';
import { deterministicBytes, textBlob } from '../helpers/data.js';

const BUCKET = 'ncache-seed-shape';

let s3: S3rverHandle;
let bucket: S3Client;
beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
  bucket = bucketClient(s3.endpoint);
});
afterAll(async () => {
  bucket?.destroy();
  await s3?.stop();
});

const world = worldsClosedAfterEach();

function seedShape(prefix: string): Record<string, unknown> {
  const s3store = (p: string) => ({
    experimental_cloud_object_store: {
      provider: 'aws',
      region: 'us-east-1',
      bucket: BUCKET,
      key_prefix: `${prefix}${p}`,
      endpoint: s3.endpoint,
      insecure_allow_http: true,
      retry: { max_retries: 2, delay: 0.05, jitter: 0.5 },
    },
  });
  const memory = { memory: { eviction_policy: { max_bytes: '100mb' } } };
  return {
    stores: [
      {
        name: 'CAS_MAIN_STORE',
        verify: {
          verify_size: true,
          backend: {
            dedup: {
              index_store: { fast_slow: { fast: memory, slow: s3store('index/') } },
              content_store: {
                compression: {
                  compression_algorithm: { lz4: {} },
                  backend: { fast_slow: { fast: memory, slow: s3store('dedup-cas/') } },
                },
              },
              min_size: 1024,
              normal_size: 4096,
              max_size: 16384,
            },
          },
        },
      },
      { name: 'AC_MAIN_STORE', fast_slow: { fast: memory, slow: s3store('ac/') } },
    ],
    servers: servers('CAS_MAIN_STORE', 'AC_MAIN_STORE'),
  };
}

const CONTENT = 'CAS_MAIN_STORE.verify.backend.dedup.content_store.compression.backend.fast_slow';
const INDEX = 'CAS_MAIN_STORE.verify.backend.dedup.index_store.fast_slow';

function seedWorld(prefix: string): Promise<World> {
  return world(seedShape(prefix), s3rverEnv());
}

describe('gc and verify over the seed config shape', () => {
  it('classifies every leaf: local memory vs remote S3, its side, dedup part and compression', async () => {
    const w = await seedWorld('classify/');
    const leaves = classifyLeaves(w.config, w.stores);
    const view = leaves.map((l) => ({
      id: l.id,
      location: l.location,
      role: l.role,
      sides: l.fastSlow.map((p) => p.side),
      compressed: l.compression.length,
    }));
    expect(view).toEqual([
      { id: `${INDEX}.fast`, location: 'local', role: 'dedup_index', sides: ['fast'], compressed: 0 },
      { id: `${INDEX}.slow`, location: 'remote', role: 'dedup_index', sides: ['slow'], compressed: 0 },
      { id: `${CONTENT}.fast`, location: 'local', role: 'dedup_chunk', sides: ['fast'], compressed: 1 },
      { id: `${CONTENT}.slow`, location: 'remote', role: 'dedup_chunk', sides: ['slow'], compressed: 1 },
      { id: 'AC_MAIN_STORE.fast_slow.fast', location: 'local', role: 'ac', sides: ['fast'], compressed: 0 },
      { id: 'AC_MAIN_STORE.fast_slow.slow', location: 'remote', role: 'ac', sides: ['slow'], compressed: 0 },
    ]);
    expect(leaves.find((l) => l.id === `${CONTENT}.fast`)!.dedup!.storeId).toBe('CAS_MAIN_STORE.verify.backend');
  });

  it('verify --tier slow finds a damaged chunk object and --repair restores it from the memory tier', async () => {
    const w = await seedWorld('repair/');
    const cas = w.stores.get('CAS_MAIN_STORE');
    const data = textBlob(112_000, 1);
    const key = await putBlob(cas, data);
    await putBlob(cas, textBlob(36_000, 2));
    const clean = await runVerify(deps(w), {});
    expect(clean.found).toBe(0);
    expect(clean.tiers.map((t) => t.id)).toContain(`${CONTENT}.slow`);

    const chunk = w.catalog.dedup.chunksOf('CAS_MAIN_STORE.verify.backend', key)![0]!;
    const objectKey = `repair/dedup-cas/${digestKey(chunk)}`;
    const original = Buffer.from(await (await bucket.send(new GetObjectCommand({ Bucket: BUCKET, Key: objectKey }))).Body!.transformToByteArray());
    const damaged = Buffer.from(original);
    damaged[damaged.length - 5] = damaged[damaged.length - 5]! ^ 0x40;
    await bucket.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: damaged }));
    const objects = (await listObjects(bucket, BUCKET, 'repair/')).length;

    const found = await runVerify(deps(w), { tier: 'slow' });
    expect(found.tiers.every((t) => t.location === 'remote')).toBe(true);
    expect(found.problems).toEqual([
      expect.objectContaining({ tier: `${CONTENT}.slow`, role: 'dedup_chunk', digest: formatDigest(chunk), problem: 'corrupt' }),
    ]);

    const fixed = await runVerify(deps(w), { tier: 'slow', repair: true });
    expect(fixed.problems[0]).toMatchObject({ repair: 'restored', repairedFrom: `${CONTENT}.fast` });
    expect(fixed.ok).toBe(true);
    expect((await runVerify(deps(w), { tier: 'slow' })).found).toBe(0);
    expect((await listObjects(bucket, BUCKET, 'repair/')).length).toBe(objects);
  });

  it('gc empties the memory tiers (S3 holds every chunk and index entry), deletes no object, and blobs read from S3', async () => {
    const w = await seedWorld('gc/');
    const cas = w.stores.get('CAS_MAIN_STORE');
    const blobs = [textBlob(74_000, 3), deterministicBytes(30_000, 4), textBlob(18_000, 5)];
    const keys = [];
    for (const b of blobs) {
      w.clock.advance(1000);
      keys.push(await putBlob(cas, b));
    }
    const objects = (await listObjects(bucket, BUCKET, 'gc/')).length;
    expect(objects).toBeGreaterThan(3);

    const report = await runGc(deps(w), { targetBytes: 0 });
    expect(report.localBytesAfter).toBe(0);
    expect(report.targetReached).toBe(true);
    expect(report.kept).toEqual({ pinned: 0, owed: 0, onlyCopyChunk: 0 });
    expect(report.forgottenBlobs).toBe(0); // S3 still holds the index entries
    expect(report.remoteTiers).toHaveLength(3);
    expect((await listObjects(bucket, BUCKET, 'gc/')).length).toBe(objects);
    for (const [i, key] of keys.entries()) expect((await readBuffer(cas, key)).equals(blobs[i]!)).toBe(true);
  });
});
