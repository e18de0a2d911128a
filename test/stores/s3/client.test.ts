// createS3Client: where the endpoint, region and addressing style come from,
// and the factory building a working store from a spec without an endpoint
// (the seed's config) when AWS_ENDPOINT_URL_S3 points at an S3-compatible server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../../src/stores/factory.js';
import { loadStoreKinds } from '../../../src/stores/optional-kinds.js';
import { createS3Client, resolveEndpoint, resolveRegion } from '../../../src/stores/s3/client.js';
import { putBuffer, readBuffer } from '../../../src/stores/store.js';
import { systemClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../../helpers/s3rver.js';
import { keyOf, storeSpec } from './harness.js';
import { deterministicBytes } from '../../helpers/data.js';

describe('endpoint and region resolution', () => {
  const spec = storeSpec('b-1');
  it('prefers spec.endpoint, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL', () => {
    const env = { AWS_ENDPOINT_URL_S3: 'http://s3-specific:1', AWS_ENDPOINT_URL: 'http://generic:2' };
    expect(resolveEndpoint({ ...spec, endpoint: 'http://from-spec:3' }, env)).toBe('http://from-spec:3');
    expect(resolveEndpoint(spec, env)).toBe('http://s3-specific:1');
    expect(resolveEndpoint(spec, { AWS_ENDPOINT_URL: 'http://generic:2' })).toBe('http://generic:2');
    expect(resolveEndpoint(spec, { AWS_ENDPOINT_URL_S3: '' })).toBeUndefined();
  });

  it('takes the region from the spec, else AWS_REGION / AWS_DEFAULT_REGION', () => {
    expect(resolveRegion({ ...spec, region: 'eu-central-1' }, { AWS_REGION: 'us-west-2' })).toBe('eu-central-1');
    expect(resolveRegion({ ...spec, region: '' }, { AWS_REGION: 'us-west-2' })).toBe('us-west-2');
    expect(resolveRegion({ ...spec, region: '' }, { AWS_DEFAULT_REGION: 'ap-south-1' })).toBe('ap-south-1');
    expect(resolveRegion({ ...spec, region: '' }, {})).toBeUndefined();
  });

  it('turns off the SDK retries and checksums-by-default, and uses path style for IP endpoints', async () => {
    const ip = createS3Client({ ...spec, endpoint: 'http://127.0.0.1:9000', force_path_style: false }, s3rverEnv());
    expect(await ip.config.maxAttempts()).toBe(1);
    expect(ip.config.forcePathStyle).toBe(true);
    expect(await ip.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await ip.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
    const named = createS3Client({ ...spec, endpoint: 'https://minio.example.test', force_path_style: false }, s3rverEnv());
    expect(named.config.forcePathStyle).toBe(false);
    const forced = createS3Client({ ...spec, endpoint: 'https://minio.example.test', force_path_style: true }, s3rverEnv());
    expect(forced.config.forcePathStyle).toBe(true);
    for (const c of [ip, named, forced]) c.destroy();
  });

  it('uses keys from the env it is given', async () => {
    const client = createS3Client(spec, { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_SESSION_TOKEN: 'T' });
    const creds = await client.config.credentials();
    expect(creds).toMatchObject({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'T' });
    client.destroy();
  });
});

describe('the factory with an endpoint from the environment', () => {
  let s3: S3rverHandle;
  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['ncache-factory'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('builds a working store from a spec with no endpoint when AWS_ENDPOINT_URL_S3 is set', async () => {
    const spec = storeSpec(s3.bucket, { force_path_style: false });
    expect(spec.endpoint).toBeUndefined();
    await loadStoreKinds([spec]);
    const store = createStore(
      spec,
      {
        logger: silentLogger,
        clock: systemClock,
        storeByName: () => {
          throw new Error('unused');
        },
        env: s3rverEnv(s3.endpoint),
      },
      'stores[0]',
    );
    expect(store.kind).toBe('experimental_cloud_object_store');
    const data = deterministicBytes(2048, 40);
    await putBuffer(store, keyOf(data), data);
    expect((await readBuffer(store, keyOf(data))).equals(data)).toBe(true);
    await store.close?.();
  });
});
