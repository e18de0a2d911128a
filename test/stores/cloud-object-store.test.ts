// The S3 store against a real S3 HTTP endpoint (s3rver in a child process),
// through the real AWS SDK: round trips, ranged reads, existence, expiry,
// removal, request counts by operation, and error mapping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/util/clock.js';
import { sha256 } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { putBuffer } from '../../src/stores/store.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';
import { FaultProxy, chunked, keyOf, openStore } from './s3/harness.js';
import { deterministicBytes } from '../helpers/data.js';
import { collect } from '../helpers/streams.js';

let s3: S3rverHandle;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['ncache-test'] });
  proxy = await FaultProxy.start(s3.endpoint);
});

afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
});

describe('CloudObjectStore against s3rver', () => {
  it('round-trips a small blob with one PutObject and one GetObject', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const data = deterministicBytes(1000, 1);
    const key = keyOf(data);
    proxy.resetCounts();
    expect(await store.has([key])).toEqual([undefined]);
    await putBuffer(store, key, data);
    expect(await store.has([key])).toEqual([1000]);
    const back = await collect(await store.getPart(key, 0));
    expect(sha256(back)).toBe(key.hash);
    expect(proxy.counts()).toEqual({ HeadObject: 2, PutObject: 1, GetObject: 1 });
    expect(store.stats()).toMatchObject({ bytesUploaded: 1000, bytesDownloaded: 1000, retries: 0 });
    await store.close();
  });

  it('stores objects under key_prefix + "<hash>-<size>"', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { spec: { key_prefix: 'prod/cas/' } });
    const data = deterministicBytes(10, 2);
    const key = keyOf(data);
    proxy.resetCounts();
    await putBuffer(store, key, data);
    expect(proxy.requests.map((r) => r.url.split('?')[0])).toEqual([`/${s3.bucket}/prod/cas/${key.hash}-10`]);
    await store.close();
  });

  it('round-trips an empty blob', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const key = keyOf(Buffer.alloc(0));
    await putBuffer(store, key, Buffer.alloc(0));
    expect(await store.has([key])).toEqual([0]);
    expect((await collect(await store.getPart(key, 0))).length).toBe(0);
    expect((await collect(await store.getPart(key, 0, 0))).length).toBe(0);
    await store.close();
  });

  it('uploads a large blob in parts, streamed, and reads it back whole and by range', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { tuning: { partSizeBytes: 1024 * 1024 } });
    const data = deterministicBytes(5 * 1024 * 1024 + 12345, 3);
    const key = keyOf(data);
    proxy.resetCounts();
    await store.update(key, chunked(data, 100_000), data.length);
    expect(proxy.counts()).toEqual({ CreateMultipartUpload: 1, UploadPart: 6, CompleteMultipartUpload: 1 });
    const back = await collect(await store.getPart(key, 0));
    expect(sha256(back)).toBe(key.hash);
    const mid = await collect(await store.getPart(key, 1_000_000, 3_000_000));
    expect(mid.equals(data.subarray(1_000_000, 4_000_000))).toBe(true);
    const tail = await collect(await store.getPart(key, data.length - 10));
    expect(tail.equals(data.subarray(data.length - 10))).toBe(true);
    expect((await collect(await store.getPart(key, data.length))).length).toBe(0);
    await expect(store.getPart(key, data.length + 1)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await store.close();
  });

  it('a missing object is NOT_FOUND naming the bucket and key; has() says undefined', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const key = keyOf(deterministicBytes(77, 99));
    expect(await store.has([key, key])).toEqual([undefined, undefined]);
    const err = await store.getPart(key, 0).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('NOT_FOUND');
    expect(String(err)).toContain(`s3://${s3.bucket}/test/${key.hash}-77`);
    expect(errorCode(await store.getPart(key, 5, 10).catch((e: unknown) => e))).toBe('NOT_FOUND');
    await store.close();
  });

  it('answers has() for many keys at once with the right sizes', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const present = [deterministicBytes(11, 5), deterministicBytes(22, 6), deterministicBytes(33, 7)];
    for (const d of present) await putBuffer(store, keyOf(d), d);
    const missing = keyOf(deterministicBytes(44, 8));
    proxy.resetCounts();
    expect(await store.has([keyOf(present[0]!), missing, keyOf(present[1]!), keyOf(present[2]!)])).toEqual([
      11,
      undefined,
      22,
      33,
    ]);
    expect(proxy.counts()).toEqual({ HeadObject: 4 });
    await store.close();
  });

  it('treats objects older than consider_expired_after_s as missing', async () => {
    const clock = new ManualClock(Date.now());
    const { store } = openStore(proxy.endpoint, s3.bucket, { spec: { consider_expired_after_s: 3600 }, clock });
    const data = deterministicBytes(500, 9);
    const key = keyOf(data);
    await putBuffer(store, key, data);
    expect(await store.has([key])).toEqual([500]);
    clock.advance(3601 * 1000);
    expect(await store.has([key])).toEqual([undefined]);
    expect(errorCode(await store.getPart(key, 0).catch((e: unknown) => e))).toBe('NOT_FOUND');
    await store.close();
  });

  it('removes objects', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const data = deterministicBytes(300, 10);
    const key = keyOf(data);
    await putBuffer(store, key, data);
    expect(await store.remove(key)).toBe(true);
    expect(await store.has([key])).toEqual([undefined]);
    expect(await store.remove(key)).toBe(false);
    await store.close();
  });

  it('a short or long source commits nothing, single PUT or multipart', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { tuning: { partSizeBytes: 1024 * 1024 } });
    for (const size of [1000, 3 * 1024 * 1024]) {
      const data = deterministicBytes(size, 11);
      const key = keyOf(data);
      const short = store.update(key, chunked(data.subarray(0, size - 1)), size);
      await expect(short).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const long = store.update(key, chunked(Buffer.concat([data, Buffer.from([1])])), size);
      await expect(long).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await store.has([key])).toEqual([undefined]);
    }
    await store.close();
  });

  it('names the missing bucket plainly', async () => {
    const { store } = openStore(proxy.endpoint, 'no-such-bucket');
    const data = deterministicBytes(10, 12);
    const err = await putBuffer(store, keyOf(data), data).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('FAILED_PRECONDITION');
    expect(String(err)).toMatch(/bucket "no-such-bucket" does not exist/);
    expect(String(err)).toContain('NoSuchBucket');
    await store.close();
  });
});
