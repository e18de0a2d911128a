// A fast_slow's slow tier is identified by where its S3 store resolves to
// (endpoint, bucket, prefix), not only by its config: the same config with
// AWS_ENDPOINT_URL_S3 pointing at another S3 must not inherit what the
// catalog learned about the first. Two real s3rver instances with the same
// bucket name, the real AWS SDK, a real catalog file, built by StoreManager.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { openPresenceReader } from '../../src/catalog/slow-tier-presence.js';
import { parseConfigText } from '../../src/config/load.js';
import { StoreManager } from '../../src/stores/factory.js';
import { loadStoreKinds } from '../../src/stores/optional-kinds.js';
import { putBuffer } from '../../src/stores/store.js';
import { systemClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { loopbackServers } from '../helpers/config-servers.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { deterministicBytes } from '../helpers/data.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const BUCKET = 'ncache-identity';

/** The AC of the seed's shape: memory over S3, no endpoint in the file (it comes from the environment). */
const CONFIG = `{
  stores: [
    { name: "AC", fast_slow: {
        fast: { memory: { eviction_policy: { max_bytes: "10mb" } } },
        slow: { experimental_cloud_object_store: { provider: "aws", region: "us-east-1", bucket: "${BUCKET}", key_prefix: "team/ac/" } },
        slow_write_mode: "sync",
    } },
    { name: "CAS", fast_slow: {
        fast: { memory: { eviction_policy: { max_bytes: "10mb" } } },
        slow: { ref_store: { name: "CAS_S3" } },
    } },
    { name: "CAS_S3", experimental_cloud_object_store: { provider: "aws", region: "us-east-1", bucket: "${BUCKET}", key_prefix: "team/cas/" } },
  ],
  servers: ${JSON.stringify(loopbackServers())},
}`;

const cleanups = cleanupsAfterEach();

/** How many blobs the catalog in `dir` knows each fast_slow's slow tier to hold (what ls shows as "slow"). */
function presenceRows(dir: string): Record<string, number> {
  const reader = openPresenceReader(join(dir, 'catalog.sqlite'));
  if (reader === undefined) throw new Error(`no catalog in ${dir}`);
  try {
    return { AC: [...reader.rows('AC')].length, CAS: [...reader.rows('CAS')].length };
  } finally {
    reader.close();
  }
}

describe('the slow tier identity includes the resolved endpoint', () => {
  let one: S3rverHandle;
  let two: S3rverHandle;
  beforeAll(async () => {
    [one, two] = await Promise.all([startS3rver({ buckets: [BUCKET] }), startS3rver({ buckets: [BUCKET] })]);
  });
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
  });

  /** A daemon's stores over the catalog in `dir`, S3 at `endpoint` through AWS_ENDPOINT_URL_S3. */
  async function open(dir: string, endpoint: string) {
    const env = s3rverEnv(endpoint);
    const config = parseConfigText(CONFIG, 'identity.json5', env);
    await loadStoreKinds(config.stores.map((s) => s.spec));
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    const logger = collectingLogger();
    const stores = new StoreManager(config.stores, { logger, clock: systemClock, catalog, env });
    await stores.start();
    const close = async () => {
      await stores.close();
      catalog.close();
    };
    cleanups.push(close);
    return { catalog, logger, stores, close };
  }

  it('knowledge learned at endpoint 1 is dropped when the same config resolves to endpoint 2, and kept when it does not', async () => {
    const dir = await tempDir('ncache-identity-', cleanups);
    const ac = deterministicBytes(300, 1);
    const cas = deterministicBytes(900, 2);

    const first = await open(dir, one.endpoint);
    await putBuffer(first.stores.get('AC'), digestOf(ac), ac);
    await putBuffer(first.stores.get('CAS'), digestOf(cas), cas);
    await first.close();
    expect(presenceRows(dir)).toEqual({ AC: 1, CAS: 1 });

    // Same config, same bucket and prefixes, endpoint 1 again: the knowledge stays.
    const again = await open(dir, one.endpoint);
    expect(again.logger.lines.filter((l) => /forgot what the old one held/.test(l))).toEqual([]);
    await again.close();
    expect(presenceRows(dir)).toEqual({ AC: 1, CAS: 1 });

    // Endpoint 2: both fast_slow stores (the CAS's through its ref_store) drop what they knew.
    const moved = await open(dir, two.endpoint);
    expect(moved.logger.lines.filter((l) => /forgot what the old one held/.test(l)).sort()).toEqual([
      "info fast_slow AC: the slow tier's config changed; forgot what the old one held (1 blobs)",
      "info fast_slow CAS: the slow tier's config changed; forgot what the old one held (1 blobs)",
    ]);
    expect(await moved.stores.get('AC').has([digestOf(ac)])).toEqual([undefined]);
    expect(await moved.stores.get('CAS').has([digestOf(cas)])).toEqual([undefined]);
    await moved.close();
    expect(presenceRows(dir)).toEqual({ AC: 0, CAS: 0 });
  });

  it('the S3 store names its resolved endpoint, bucket and prefix', async () => {
    const dir = await tempDir('ncache-identity-', cleanups);
    const { stores } = await open(dir, two.endpoint);
    expect(stores.get('CAS_S3').remoteLocation?.()).toBe(`${two.endpoint}/${BUCKET}/team/cas/`);
  });
});
