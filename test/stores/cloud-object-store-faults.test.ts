// The S3 store through a fault-injecting proxy in front of a real s3rver:
// retries succeed through 500 / 503 SlowDown / resets mid-body / latency /
// stalls, every blob read back hashes to its digest, failed multipart uploads
// are aborted and leave no object, an outage ends in a clear UNAVAILABLE, and
// 4xx answers are never retried.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { putBuffer } from '../../src/stores/store.js';
import { sha256 } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';
import { FaultProxy, chunked, keyOf, openStore } from './s3/harness.js';
import { deterministicBytes } from '../helpers/data.js';
import { collect } from '../helpers/streams.js';

const MIB = 1024 * 1024;
let s3: S3rverHandle;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['ncache-faults'] });
  proxy = await FaultProxy.start(s3.endpoint);
});

afterEach(() => {
  proxy.clearFaults();
  proxy.setDown(false);
  proxy.releaseStalls();
  proxy.resetCounts();
});

afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
});

async function readsBackIntact(store: ReturnType<typeof openStore>['store'], data: Buffer): Promise<void> {
  const key = keyOf(data);
  const back = await collect(await store.getPart(key, 0));
  expect(back.length).toBe(data.length);
  expect(sha256(back)).toBe(key.hash);
}

/**
 * The faulted attempt came first and the rest went through clean. (A loaded
 * machine may time out one more clean attempt, so the count is not pinned.)
 */
function expectFirstFaultedThenClean(faults: (string | undefined)[], fault: string): void {
  expect(faults[0]).toBe(fault);
  expect(faults.length).toBeGreaterThanOrEqual(2);
  expect(faults.slice(1).every((f) => f === undefined)).toBe(true);
}

describe('retries through injected faults', () => {
  it('a PutObject answered 500 then 503 SlowDown is retried and lands intact', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const data = deterministicBytes(4000, 21);
    proxy.inject({ ops: ['PutObject'], fault: { type: 'status', status: 500 } });
    proxy.inject({ ops: ['PutObject'], fault: { type: 'status', status: 503 } });
    await putBuffer(store, keyOf(data), data);
    expect(proxy.count('PutObject')).toBe(3);
    expect(store.stats()).toMatchObject({ retries: 2 });
    await readsBackIntact(store, data);
    await store.close();
  });

  it('HeadObject throttled with SlowDown still answers has()', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const data = deterministicBytes(100, 22);
    await putBuffer(store, keyOf(data), data);
    proxy.resetCounts();
    proxy.inject({ ops: ['HeadObject'], times: 2, fault: { type: 'status', status: 503, code: 'SlowDown' } });
    expect(await store.has([keyOf(data)])).toEqual([100]);
    expect(proxy.count('HeadObject')).toBe(3);
    await store.close();
  });

  it('a GET body reset mid-way resumes with a ranged GET from the last byte received', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const data = deterministicBytes(3 * MIB, 23);
    await store.update(keyOf(data), chunked(data), data.length);
    proxy.resetCounts();
    proxy.inject({ ops: ['GetObject'], times: 2, fault: { type: 'reset', afterBytes: 700_000 } });
    await readsBackIntact(store, data);
    expect(proxy.count('GetObject')).toBe(3);
    expect(store.stats().retries).toBeGreaterThanOrEqual(2);
    await store.close();
  });

  it('an UploadPart reset mid-body is retried alone; the 40 MiB blob reads back intact', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { tuning: { partSizeBytes: 5 * MIB } });
    const data = deterministicBytes(40 * MIB, 24);
    proxy.inject({ ops: ['UploadPart'], times: 2, fault: { type: 'reset' } });
    proxy.inject({ ops: ['UploadPart'], fault: { type: 'status', status: 500 } });
    await store.update(keyOf(data), chunked(data, 256 * 1024), data.length);
    expect(proxy.counts()).toMatchObject({ CreateMultipartUpload: 1, UploadPart: 8 + 3, CompleteMultipartUpload: 1 });
    expect(proxy.counts().AbortMultipartUpload).toBeUndefined();
    await readsBackIntact(store, data);
    await store.close();
  });

  it('latency beyond the request timeout fails the attempt and the retry succeeds', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { client: { requestTimeoutMs: 1000 } });
    const data = deterministicBytes(2000, 25);
    proxy.inject({ ops: ['PutObject'], fault: { type: 'latency', ms: 10_000 } });
    await putBuffer(store, keyOf(data), data);
    expectFirstFaultedThenClean(proxy.requests.filter((r) => r.op === 'PutObject').map((r) => r.fault), 'latency');
    await readsBackIntact(store, data);
    await store.close();
  });

  it('a stalled GET times out and is retried', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { client: { requestTimeoutMs: 1000, socketTimeoutMs: 1000 } });
    const data = deterministicBytes(5000, 26);
    await putBuffer(store, keyOf(data), data);
    proxy.resetCounts();
    proxy.inject({ ops: ['GetObject'], fault: { type: 'stall' } });
    const read = store.getPart(keyOf(data), 0).then(collect);
    await proxy.waitForStalled(1);
    const back = await read;
    expect(sha256(back)).toBe(keyOf(data).hash);
    expectFirstFaultedThenClean(proxy.requests.filter((r) => r.op === 'GetObject').map((r) => r.fault), 'stall');
    await store.close();
  });

  it('a GET body that goes silent mid-way times out and resumes from the last byte received', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { client: { socketTimeoutMs: 1000 } });
    const data = deterministicBytes(2 * MIB, 34);
    await store.update(keyOf(data), chunked(data), data.length);
    proxy.resetCounts();
    proxy.inject({ ops: ['GetObject'], fault: { type: 'stall-body', afterBytes: 300_000 } });
    await readsBackIntact(store, data);
    const gets = proxy.requests.filter((r) => r.op === 'GetObject');
    expectFirstFaultedThenClean(gets.map((r) => r.fault), 'stall-body');
    // Counts bytes delivered, so the resumed GET did not re-send what the first one gave.
    expect(store.stats().bytesDownloaded).toBe(data.length);
    await store.close();
  });

  it('retry_on_errors narrows what is retried', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, {
      spec: { retry: { max_retries: 3, delay: 0.001, jitter: 0, retry_on_errors: ['DeadlineExceeded'] } },
    });
    const data = deterministicBytes(100, 35);
    proxy.inject({ ops: ['PutObject'], times: 5, fault: { type: 'status', status: 503 } });
    const err = await putBuffer(store, keyOf(data), data).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('UNAVAILABLE');
    expect(proxy.count('PutObject')).toBe(1);
    await store.close();
  });
});

describe('failures that must not leave anything behind', () => {
  it('a multipart upload whose part keeps failing is aborted and leaves no object', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, {
      spec: { retry: { max_retries: 2, delay: 0.001, jitter: 0 } },
      tuning: { partSizeBytes: MIB },
    });
    const data = deterministicBytes(4 * MIB + 5, 27);
    const key = keyOf(data);
    proxy.inject({ ops: ['UploadPart'], pathIncludes: 'partNumber=2&', times: 10, fault: { type: 'status', status: 500 } });
    const err = await store.update(key, chunked(data), data.length).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('UNAVAILABLE');
    expect(String(err)).toContain(`s3://${s3.bucket}/test/${key.hash}-${data.length}`);
    expect(String(err)).toContain('InternalError');
    // The abort names the upload that was created (s3rver itself answers 405 to it: it has no abort).
    const uploadId = new URL(proxy.requests.find((r) => r.op === 'UploadPart')!.url, 'http://x').searchParams.get('uploadId');
    const aborts = proxy.requests.filter((r) => r.op === 'AbortMultipartUpload');
    expect(aborts).toHaveLength(1);
    expect(aborts[0]!.url).toContain(`uploadId=${uploadId}`);
    expect(proxy.count('CompleteMultipartUpload')).toBe(0);
    expect(await store.has([key])).toEqual([undefined]);
    await store.close();
  });

  it('a source failing mid-way aborts the multipart upload', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { tuning: { partSizeBytes: MIB } });
    const data = deterministicBytes(3 * MIB, 28);
    const key = keyOf(data);
    async function* breaking() {
      yield data.subarray(0, 2 * MIB + 10);
      throw new Error('client went away');
    }
    await expect(store.update(key, breaking(), data.length)).rejects.toThrow('client went away');
    expect(proxy.count('AbortMultipartUpload')).toBe(1);
    expect(proxy.count('CompleteMultipartUpload')).toBe(0);
    expect(await store.has([key])).toEqual([undefined]);
    await store.close();
  });

  it('an outage ends in UNAVAILABLE after the configured retries; recovery works', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, {
      spec: { retry: { max_retries: 3, delay: 0.001, jitter: 0 } },
    });
    const data = deterministicBytes(1234, 29);
    proxy.setDown(true);
    const err = await putBuffer(store, keyOf(data), data).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('UNAVAILABLE');
    expect(String(err)).toMatch(/S3 unreachable.*ECONNRESET.*gave up after 3 retries/);
    // Down mode resets connections before any request is read: count attempts from the store's side.
    expect(store.stats()).toMatchObject({ retries: 3, requests: { PutObject: 4 } });
    expect(String(err)).toContain(s3.bucket);
    const hasErr = await store.has([keyOf(data)]).catch((e: unknown) => e);
    expect(errorCode(hasErr)).toBe('UNAVAILABLE');
    proxy.setDown(false);
    await putBuffer(store, keyOf(data), data);
    await readsBackIntact(store, data);
    await store.close();
  });
});

describe('answers that are never retried', () => {
  it('403 AccessDenied names the missing IAM action and is not retried', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const data = deterministicBytes(10, 30);
    proxy.inject({ ops: ['PutObject'], times: 5, fault: { type: 'status', status: 403, code: 'AccessDenied' } });
    const err = await putBuffer(store, keyOf(data), data).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('PERMISSION_DENIED');
    expect(String(err)).toContain('s3:PutObject');
    expect(String(err)).toContain('AccessDenied');
    expect(proxy.count('PutObject')).toBe(1);

    proxy.clearFaults();
    proxy.inject({ ops: ['GetObject'], times: 5, fault: { type: 'status', status: 403, code: 'AccessDenied' } });
    const readErr = await store.getPart(keyOf(data), 0).catch((e: unknown) => e);
    expect(String(readErr)).toContain('s3:GetObject');
    expect(proxy.count('GetObject')).toBe(1);
    await store.close();
  });

  it('400 is not retried; a wrong region says which region the bucket is in', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket);
    const data = deterministicBytes(10, 31);
    proxy.inject({
      ops: ['PutObject'],
      times: 5,
      fault: {
        type: 'status',
        status: 400,
        code: 'AuthorizationHeaderMalformed',
        message: "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'",
      },
    });
    const err = await putBuffer(store, keyOf(data), data).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('FAILED_PRECONDITION');
    expect(String(err)).toMatch(/different region \(eu-central-1\)/);
    expect(proxy.count('PutObject')).toBe(1);
    await store.close();
  });

  it('rejected credentials say so', async () => {
    // s3rver knows only its own key pair; the proxy passes the request through unchanged.
    const { store } = openStore(proxy.endpoint, s3.bucket);
    (store as unknown as { client: { config: { credentials: unknown } } }).client.config.credentials = async () => ({
      accessKeyId: 'WRONG',
      secretAccessKey: 'WRONG',
    });
    const err = await store.has([keyOf(deterministicBytes(5, 32))]).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('PERMISSION_DENIED');
    await store.close();
  });
});

describe('bounded concurrency', () => {
  it('requests in flight never exceed additional_max_concurrent_requests', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, { spec: { additional_max_concurrent_requests: 2 } });
    const keys = Array.from({ length: 10 }, (_, i) => keyOf(deterministicBytes(10, 100 + i)));
    proxy.inject({ ops: ['HeadObject'], times: 10, fault: { type: 'latency', ms: 30 } });
    expect(await store.has(keys)).toEqual(keys.map(() => undefined));
    expect(proxy.count('HeadObject')).toBe(10);
    expect(proxy.peakInFlight('HeadObject')).toBe(2);
    await store.close();
  });

  it('multipart parts in flight never exceed multipart_max_concurrent_uploads', async () => {
    const { store } = openStore(proxy.endpoint, s3.bucket, {
      spec: { multipart_max_concurrent_uploads: 2, additional_max_concurrent_requests: 10 },
      tuning: { partSizeBytes: MIB },
    });
    const data = deterministicBytes(6 * MIB, 33);
    proxy.inject({ ops: ['UploadPart'], times: 6, fault: { type: 'latency', ms: 30 } });
    await store.update(keyOf(data), chunked(data), data.length);
    expect(proxy.count('UploadPart')).toBe(6);
    expect(proxy.peakInFlight('UploadPart')).toBe(2);
    await readsBackIntact(store, data);
    await store.close();
  });
});
