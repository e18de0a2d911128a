// The seed config's CAS store tree, built by the factory against a real S3
// endpoint (s3rver): verify -> dedup { index: fast_slow(memory, S3),
// content: compression(lz4) -> fast_slow(memory, S3) }, each "laptop" with its
// own catalog file and empty memory tiers, one bucket between them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { parseConfigText } from '../../src/config/load.js';
import type { StoreSpec } from '../../src/config/types.js';
import { createStore } from '../../src/stores/factory.js';
import { loadStoreKinds } from '../../src/stores/optional-kinds.js';
import type { StoreContext } from '../../src/stores/store-context.js';
import { isStatsOf } from '../../src/stores/store-stats.js';
import { type StoreDriver, closeTree, hasOne, putBuffer, readBuffer, startTree, walkStores } from '../../src/stores/store.js';
import { systemClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { mixedBytes } from '../helpers/data.js';

const s3 = (bucket: string, prefix: string) => `{
  experimental_cloud_object_store: {
    provider: "aws", region: "us-east-1", bucket: "${bucket}", key_prefix: "${prefix}",
    retry: { max_retries: 2, delay: 0.05, jitter: 0.5 },
  },
}`;

function seedCasSpec(bucket: string): StoreSpec {
  const text = `{
    stores: [{
      name: "CAS_MAIN_STORE",
      verify: {
        verify_size: true,
        backend: {
          dedup: {
            index_store: { fast_slow: { fast: { memory: { eviction_policy: { max_bytes: "100mb" } } }, slow: ${s3(bucket, 'index/')} } },
            content_store: {
              compression: {
                compression_algorithm: { lz4: {} },
                backend: { fast_slow: { fast: { memory: { eviction_policy: { max_bytes: "100mb" } } }, slow: ${s3(bucket, 'dedup-cas/')} } },
              },
            },
          },
        },
      },
    }],
    servers: [{ listener: { http: { socket_address: "127.0.0.1:0" } }, services: { cas: [{ instance_name: "", cas_store: "CAS_MAIN_STORE" }] } }],
  }`;
  return parseConfigText(text, 'seed-stack.json5', {}).stores[0]!.spec;
}

describe('dedup in the seed stack, two laptops sharing one bucket', () => {
  let server: S3rverHandle;
  let dir: string;
  const open: { root: StoreDriver; catalog: Catalog }[] = [];

  beforeAll(async () => {
    server = await startS3rver({ buckets: ['ncache-dedup-seed'] });
    dir = await mkdtemp(join(tmpdir(), 'ncache-dedup-seed-'));
  });
  afterAll(async () => {
    for (const o of open.reverse()) {
      await closeTree(o.root);
      o.catalog.close();
    }
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function laptop(name: string) {
    const spec = seedCasSpec(server.bucket);
    await loadStoreKinds([spec]);
    const catalog = Catalog.open(join(dir, name, 'catalog.sqlite'));
    const ctx: StoreContext = {
      logger: silentLogger,
      clock: systemClock,
      storeByName: () => {
        throw new Error('none');
      },
      catalog,
      storeName: 'CAS_MAIN_STORE',
      env: s3rverEnv(server.endpoint),
    };
    const root = createStore(spec, ctx, 'stores[0]');
    await startTree(root);
    open.push({ root, catalog });
    const dedup = [...walkStores(root)].find((s) => s.kind === 'dedup')!;
    return { root, catalog, dedup };
  }

  const base = mixedBytes(5 << 20, 77);
  const v2 = Buffer.concat([base.subarray(0, 2_000_000), Buffer.from('one small edit'), base.subarray(2_000_000)]);

  it('uploads on laptop A; laptop B, with nothing local, finds and reads the blobs whole and in ranges', async () => {
    const a = await laptop('a');
    await putBuffer(a.root, digestOf(base), base);
    await putBuffer(a.root, digestOf(v2), v2);
    const stats = a.dedup.stats?.();
    if (!isStatsOf(stats, 'dedup')) throw new Error(`expected a dedup store's stats, got ${stats?.kind}`);
    expect(stats.chunksReused).toBeGreaterThan(10);
    expect(a.catalog.dedup.stats('CAS_MAIN_STORE.verify.backend').blobs).toBe(2);

    const b = await laptop('b');
    expect(await b.root.has([digestOf(base), digestOf(v2)])).toEqual([base.length, v2.length]);
    expect((await readBuffer(b.root, digestOf(v2))).equals(v2)).toBe(true);
    const parts: Buffer[] = [];
    for await (const p of await b.root.getPart(digestOf(base), 3_000_000, 500_000)) parts.push(p);
    expect(Buffer.concat(parts).equals(base.subarray(3_000_000, 3_500_000))).toBe(true);
  });

  it('a chunk damaged in the bucket makes the blob missing on a fresh laptop, and its re-upload repairs it', async () => {
    const c = await laptop('c');
    const key = digestOf(v2);
    expect(await hasOne(c.root, key)).toBe(v2.length);
    const chunks = c.catalog.dedup.chunksOf('CAS_MAIN_STORE.verify.backend', key)!;
    const victim = chunks[3]!;
    // Overwrite the chunk's object in S3 with bytes that are not its compressed form.
    const contentS3 = [...walkStores(c.dedup.children!()[1]!)].find((s) => s.kind === 'experimental_cloud_object_store')!;
    await putBuffer(contentS3, victim, Buffer.from('garbage where a compressed chunk should be'));

    const d = await laptop('d');
    let failure: unknown;
    try {
      for await (const piece of await d.root.getPart(key, 0)) expect(piece.length).toBeGreaterThan(0);
    } catch (err) {
      failure = err;
    }
    expect(errorCode(failure)).toBe('NOT_FOUND');
    expect((failure as Error).message).toContain(key.hash);
    expect((failure as Error).message).toContain(victim.hash);
    expect(await hasOne(d.root, key)).toBeUndefined();
    await putBuffer(d.root, key, v2);
    const e = await laptop('e');
    expect((await readBuffer(e.root, key)).equals(v2)).toBe(true);
  });
});
