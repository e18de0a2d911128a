// Shared setup for cloud-object-store tests: a real s3rver child process, a
// fault proxy in front of it, and stores built through the real AWS SDK.
import type { CloudObjectStoreSpec } from '../../../src/config/types.js';
import { CloudObjectStore, type CloudObjectStoreTuning } from '../../../src/stores/cloud-object-store.js';
import { type S3ClientOptions, createS3Client } from '../../../src/stores/s3/client.js';
import type { StoreContext } from '../../../src/stores/store-context.js';
import type { ByteStream } from '../../../src/stores/store.js';
import { type Clock, systemClock } from '../../../src/util/clock.js';
import { type Digest, digestOf } from '../../../src/util/digest.js';
import { silentLogger } from '../../../src/util/logger.js';
import { FaultProxy } from '../../helpers/fault-proxy.js';
import { s3rverEnv } from '../../helpers/s3rver.js';

export function storeSpec(bucket: string, overrides: Partial<CloudObjectStoreSpec> = {}): CloudObjectStoreSpec {
  return {
    kind: 'experimental_cloud_object_store',
    provider: 'aws',
    region: 'us-east-1',
    bucket,
    key_prefix: 'test/',
    // Small delays so retry tests stay quick; the formula is tested in retry.test.ts.
    retry: { max_retries: 4, delay: 0.005, jitter: 0.5 },
    consider_expired_after_s: 0,
    max_retry_buffer_per_request: 1024 * 1024,
    multipart_max_concurrent_uploads: 3,
    additional_max_concurrent_requests: 8,
    force_path_style: true,
    insecure_allow_http: false,
    disable_http2: false,
    ...overrides,
  };
}

export interface StoreUnderTest {
  store: CloudObjectStore;
  spec: CloudObjectStoreSpec;
}

export function openStore(
  endpoint: string,
  bucket: string,
  opts: {
    spec?: Partial<CloudObjectStoreSpec>;
    tuning?: CloudObjectStoreTuning;
    client?: S3ClientOptions;
    clock?: Clock;
  } = {},
): StoreUnderTest {
  const spec = storeSpec(bucket, { endpoint, ...opts.spec });
  const ctx: StoreContext = {
    logger: silentLogger,
    clock: opts.clock ?? systemClock,
    storeByName: () => {
      throw new Error('no ref stores here');
    },
  };
  const client = createS3Client(spec, s3rverEnv(), { requestTimeoutMs: 10_000, socketTimeoutMs: 5_000, ...opts.client });
  const store = new CloudObjectStore(spec, client, ctx, { partSizeBytes: 1024 * 1024, ...opts.tuning });
  return { store, spec };
}

export function keyOf(data: Buffer): Digest {
  return digestOf(data);
}

export async function* chunked(data: Buffer, chunkSize = 64 * 1024): ByteStream {
  for (let off = 0; off < data.length; off += chunkSize) yield data.subarray(off, off + chunkSize);
}

export { FaultProxy };
