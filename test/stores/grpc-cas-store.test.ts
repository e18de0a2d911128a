// The grpc store's drivers against a real cluster daemon over loopback:
// has() in batches, reads and their errors, early completion of an upload
// the cluster already has, resumption of reads and writes over a relay that
// cuts the connection, the AC flavour, stats and remoteLocation.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { GrpcStoreSpec } from '../../src/config/types.js';
import { ActionResultCodec } from '../../src/proto/reapi.js';
import { createGrpcStore } from '../../src/stores/grpc-store.js';
import type { GrpcCasTuning } from '../../src/stores/grpc/grpc-cas-store.js';
import type { StoreContext } from '../../src/stores/store-context.js';
import { type ByteStream, type StoreDriver, putBuffer, readBuffer } from '../../src/stores/store.js';
import type { GrpcStats } from '../../src/stores/store-stats.js';
import { ManualClock, systemClock } from '../../src/util/clock.js';
import { EMPTY_DIGEST, digestOf } from '../../src/util/digest.js';
import { errorCode } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { CLUSTER_INSTANCE, grpcSpec, startCluster } from './grpc-two-daemons.js';

const cleanups = cleanupsAfterEach();
const MIB = 1024 * 1024;

const ctx: StoreContext = {
  logger: silentLogger,
  clock: systemClock,
  storeByName: () => {
    throw new Error('no named stores here');
  },
};

function store(spec: GrpcStoreSpec, tuning: GrpcCasTuning = {}): StoreDriver {
  const s = createGrpcStore(spec, ctx, 'stores[0]', tuning);
  cleanups.push(() => s.close?.());
  return s;
}

function statsOf(s: StoreDriver): GrpcStats {
  const st = s.stats?.();
  if (st?.kind !== 'grpc') throw new Error('not a grpc store');
  return st;
}

async function* chunksOf(data: Buffer, size: number, consumed: { bytes: number }): ByteStream {
  for (let at = 0; at < data.length; at += size) {
    consumed.bytes = at + Math.min(size, data.length - at);
    yield data.subarray(at, at + size);
  }
}

describe('grpc store (cas) against a cluster', () => {
  it('has() answers many keys in batched FindMissingBlobs, the empty blob without asking', async () => {
    const cluster = await startCluster(cleanups);
    const cas = store(grpcSpec(cluster.url, 'cas'));
    const held = Buffer.from('held upstream');
    await cluster.client.uploadBlob(held, CLUSTER_INSTANCE);
    const absent = Array.from({ length: 5000 }, (_, i) => digestOf(Buffer.from(`absent ${i}`)));
    const answer = await cas.has([digestOf(held), EMPTY_DIGEST, ...absent, digestOf(held)]);
    expect(answer.slice(0, 2)).toEqual([held.length, 0]);
    expect(answer.slice(2, -1).every((a) => a === undefined)).toBe(true);
    expect(answer.at(-1)).toBe(held.length);
    expect(statsOf(cas).requests).toBe(2);
  });

  it('reads whole and by range; a missing blob is NOT_FOUND and a read past the end OUT_OF_RANGE', async () => {
    const cluster = await startCluster(cleanups);
    const cas = store(grpcSpec(cluster.url, 'cas'));
    const data = randomBytes(2 * MIB + 5);
    const digest = await cluster.client.uploadBlob(data, CLUSTER_INSTANCE);
    expect((await readBuffer(cas, digest)).equals(data)).toBe(true);
    const parts: Buffer[] = [];
    for await (const p of await cas.getPart(digest, MIB, 1000)) parts.push(p);
    expect(Buffer.concat(parts).equals(data.subarray(MIB, MIB + 1000))).toBe(true);
    const missing = digestOf(Buffer.from('missing'));
    const err = await cas.getPart(missing, 0).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('NOT_FOUND');
    expect(String(err)).toContain(`upstream ${cluster.url} (instance "main") ByteStream.Read: NOT_FOUND`);
    expect(errorCode(await cas.getPart(missing, missing.sizeBytes).catch((e: unknown) => e))).toBe('NOT_FOUND');
    expect(errorCode(await cas.getPart(digest, data.length + 1).catch((e: unknown) => e))).toBe('OUT_OF_RANGE');
    expect(statsOf(cas).bytesDownloaded).toBe(data.length + 1000);
  });

  it('uploads small blobs in a batch and large ones streamed; one the cluster has ends early without reading the rest', async () => {
    const cluster = await startCluster(cleanups);
    const cas = store(grpcSpec(cluster.url, 'cas'), { batchMaxBytes: 64 * 1024 });
    const small = randomBytes(1000);
    const big = randomBytes(6 * MIB);
    await putBuffer(cas, digestOf(small), small);
    await putBuffer(cas, digestOf(big), big);
    expect((await cluster.client.downloadBlob(digestOf(small), CLUSTER_INSTANCE)).equals(small)).toBe(true);
    expect((await cluster.client.downloadBlob(digestOf(big), CLUSTER_INSTANCE)).equals(big)).toBe(true);

    const consumed = { bytes: 0 };
    await cas.update(digestOf(big), chunksOf(big, 256 * 1024, consumed), big.length);
    expect(consumed.bytes).toBeLessThan(big.length);
  });

  it('a wrong hash is refused by the cluster with INVALID_ARGUMENT, naming the upstream', async () => {
    const cluster = await startCluster(cleanups);
    const cas = store(grpcSpec(cluster.url, 'cas'), { batchMaxBytes: 64 * 1024 });
    const data = randomBytes(MIB);
    const wrong = { hash: digestOf(Buffer.from('other')).hash, sizeBytes: data.length };
    const err = await putBuffer(cas, wrong, data).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('INVALID_ARGUMENT');
    expect(String(err)).toContain(`upstream ${cluster.url} (instance "main") ByteStream.Write: INVALID_ARGUMENT`);
    expect(statsOf(cas).retries).toBe(0);
  });

  it('resumes a write from the committed size when the connection is cut mid-upload', async () => {
    const cluster = await startCluster(cleanups);
    const proxy = await TcpProxy.start(cluster.port);
    cleanups.push(() => proxy.close());
    const cas = store(grpcSpec(`grpc://127.0.0.1:${proxy.port}`, 'cas'));
    const data = randomBytes(12 * MIB);
    proxy.cutOnce(4 * MIB, 'up');
    await putBuffer(cas, digestOf(data), data);
    expect(proxy.cuts).toBe(1);
    expect(statsOf(cas).retries).toBe(1);
    expect((await cluster.client.downloadBlob(digestOf(data), CLUSTER_INSTANCE)).equals(data)).toBe(true);
  });

  it('fails, naming the upstream, when the bytes after the committed size are no longer held', async () => {
    const cluster = await startCluster(cleanups);
    const proxy = await TcpProxy.start(cluster.port);
    cleanups.push(() => proxy.close());
    const url = `grpc://127.0.0.1:${proxy.port}`;
    const cas = store(grpcSpec(url, 'cas'), { windowBytes: 0, chunkBytes: 64 * 1024 });
    const data = randomBytes(12 * MIB);
    proxy.cutOnce(4 * MIB, 'up');
    const err = await putBuffer(cas, digestOf(data), data).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('UNAVAILABLE');
    expect(String(err)).toMatch(new RegExp(`upstream ${url.replace(/\./g, '\\.')} \\(instance "main"\\) ByteStream\\.Write: UNAVAILABLE: .*cannot resume the upload`));
  });

  it('resumes a read from the bytes delivered when the connection is cut mid-blob', async () => {
    const cluster = await startCluster(cleanups);
    const data = randomBytes(12 * MIB);
    const digest = await cluster.client.uploadBlob(data, CLUSTER_INSTANCE);
    const proxy = await TcpProxy.start(cluster.port);
    cleanups.push(() => proxy.close());
    const cas = store(grpcSpec(`grpc://127.0.0.1:${proxy.port}`, 'cas'));
    proxy.cutOnce(5 * MIB, 'down');
    expect((await readBuffer(cas, digest, 64 * MIB)).equals(data)).toBe(true);
    expect(proxy.cuts).toBe(1);
    expect(statsOf(cas).retries).toBe(1);
    expect(statsOf(cas).bytesDownloaded).toBe(data.length);
  });

  it('remoteLocation names the endpoints, the instance and the store type', async () => {
    const spec = grpcSpec('grpc://10.0.0.5:8980', 'cas');
    expect(store(spec).remoteLocation?.()).toBe('grpc grpc://10.0.0.5:8980 instance="main" store_type=cas');
    expect(store({ ...spec, store_type: 'ac' }).remoteLocation?.()).not.toBe(store(spec).remoteLocation?.());
    expect(store({ ...spec, instance_name: 'other' }).remoteLocation?.()).not.toBe(store(spec).remoteLocation?.());
  });
});

describe('grpc store (ac) against a cluster', () => {
  it('stores and reads back a serialized ActionResult; a miss is NOT_FOUND, a value that is not one INVALID_ARGUMENT', async () => {
    const cluster = await startCluster(cleanups);
    const ac = store(grpcSpec(cluster.url, 'ac'));
    const key = digestOf(Buffer.from('action'));
    expect(await ac.has([key])).toEqual([undefined]);
    expect(errorCode(await ac.getPart(key, 0).catch((e: unknown) => e))).toBe('NOT_FOUND');
    const value = ActionResultCodec.encode({ exitCode: 1, stderrRaw: Buffer.from('oops') });
    await putBuffer(ac, key, value);
    expect(await ac.has([key])).toEqual([value.length]);
    expect(ActionResultCodec.decode(await readBuffer(ac, key)).stderrRaw.toString()).toBe('oops');
    const bad = digestOf(Buffer.from('bad action'));
    const err = await putBuffer(ac, bad, Buffer.from('not a protobuf at all')).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('INVALID_ARGUMENT');
    expect(String(err)).toContain(`action result ${bad.hash}-${bad.sizeBytes}`);
  });

  it('a value has() just fetched serves the getPart() that follows, for 2 s', async () => {
    const cluster = await startCluster(cleanups);
    const clock = new ManualClock();
    const ac = createGrpcStore(grpcSpec(cluster.url, 'ac'), { ...ctx, clock }, 'stores[0]');
    cleanups.push(() => ac.close?.());
    const key = digestOf(Buffer.from('action to read twice'));
    const value = ActionResultCodec.encode({ exitCode: 0, stdoutRaw: Buffer.from('out') });
    await putBuffer(ac, key, value);
    const before = statsOf(ac).requests;
    expect(await ac.has([key])).toEqual([value.length]);
    expect((await readBuffer(ac, key)).equals(value)).toBe(true);
    expect(statsOf(ac).requests).toBe(before + 1);
    clock.advance(2001);
    expect((await readBuffer(ac, key)).equals(value)).toBe(true);
    expect(statsOf(ac).requests).toBe(before + 2);
  });
});
