// CloudObjectStore.entries() against s3rver: lists only "<hash>-<size>" objects
// under its own prefix, across ListObjectsV2 pages (verify reads the slow tier
// through it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/stores/s3/client.js';
import { putBuffer } from '../../src/stores/store.js';
import { digestKey } from '../../src/util/digest.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { FaultProxy, keyOf, openStore, storeSpec } from './s3/harness.js';
import { deterministicBytes } from '../helpers/data.js';

let s3: S3rverHandle;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['ncache-entries'] });
  proxy = await FaultProxy.start(s3.endpoint);
});

afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
});

describe('CloudObjectStore.entries', () => {
  it('lists every blob under its prefix across pages and skips foreign names and other prefixes', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { spec: { key_prefix: 'mine/' } });
    const { store: other } = openStore(proxy.endpoint, s3.bucket, { spec: { key_prefix: 'other/' } });
    const keys = [];
    // 1005 objects: more than one ListObjectsV2 page (1000).
    for (let i = 0; i < 1005; i++) {
      const data = deterministicBytes(10 + (i % 7), i + 1);
      const key = keyOf(data);
      keys.push(digestKey(key));
      await putBuffer(store, key, data);
    }
    await putBuffer(other, keyOf(deterministicBytes(5, 9999)), deterministicBytes(5, 9999));
    const client = createS3Client(storeSpec(s3.bucket, { endpoint: proxy.endpoint }), s3rverEnv());
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'mine/README.txt', Body: 'not a blob' }));
    client.destroy();

    proxy.resetCounts();
    const listed = [];
    for await (const entry of store.entries()) {
      listed.push(digestKey(entry.key));
      expect(entry.size).toBe(entry.key.sizeBytes);
      expect(entry.lastAccessMs).toBeTypeOf('number');
    }
    expect(listed.sort()).toEqual([...new Set(keys)].sort());
    expect(proxy.counts().ListObjectsV2).toBe(2);
    await store.close();
    await other.close();
  });
});
