// The grpc store as the slow tier of a laptop daemon in front of a second
// daemon (the cluster), all real gRPC over loopback: blobs and action results
// go through to the cluster, come back through a fresh laptop, fill its fast
// tier, and reads of blobs the cluster got directly work.
import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collectStats } from '../../src/daemon/control/stats.js';
import { systemClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { blobName } from '../helpers/grpc-client.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { CLUSTER_INSTANCE, startCluster, startLaptop } from './grpc-two-daemons.js';

const cleanups = cleanupsAfterEach();

describe('grpc store: laptop in front of a cluster', () => {
  it('uploads small and big blobs through to the cluster, and a fresh laptop reads them back, filling its fast tier', async () => {
    const cluster = await startCluster(cleanups);
    const first = await startLaptop(cleanups, cluster.url);
    const small = randomBytes(2000);
    const big = randomBytes(5 * 1024 * 1024 + 3);
    const smallDigest = digestOf(small);
    await first.client.batchUpdateBlobs({ instanceName: '', requests: [{ digest: smallDigest, data: small }] });
    const bigDigest = await first.client.uploadBlob(big);
    expect((await cluster.client.downloadBlob(smallDigest, CLUSTER_INSTANCE)).equals(small)).toBe(true);
    expect((await cluster.client.downloadBlob(bigDigest, CLUSTER_INSTANCE)).equals(big)).toBe(true);
    await first.stop();

    const fresh = await startLaptop(cleanups, cluster.url);
    expect(fresh.fastTierHolds(bigDigest)).toBe(false);
    const missing = await fresh.client.findMissingBlobs({ blobDigests: [smallDigest, bigDigest, digestOf(Buffer.from('nowhere'))] });
    expect(missing.missingBlobDigests).toEqual([digestOf(Buffer.from('nowhere'))]);
    expect((await fresh.client.downloadBlob(bigDigest)).equals(big)).toBe(true);
    expect((await fresh.client.downloadBlob(smallDigest)).equals(small)).toBe(true);
    const upstream = collectStats({
      config: fresh.config,
      stores: fresh.daemon.stores,
      addresses: fresh.daemon.addresses,
      startedAtMs: 0,
      pid: process.pid,
      version: 'test',
      clock: systemClock,
      schedulers: new Map(),
    }).upstream;
    expect(upstream.map((u) => [u.path, u.storeType, u.addresses])).toEqual([
      ['CAS.fast_slow.slow', 'cas', [cluster.url]],
      ['AC.fast_slow.slow', 'ac', [cluster.url]],
    ]);
    expect(upstream[0]).toMatchObject({ instanceName: 'main', errors: 0, bytesUploaded: 0, bytesDownloaded: big.length + small.length });
    // The fill lands beside the read, not before its answer.
    await waitFor(() => fresh.fastTierHolds(bigDigest) && fresh.fastTierHolds(smallDigest), { what: 'both blobs in the fast tier' });
  });

  it('reads a blob uploaded to the cluster directly, whole and by range, and a missing one is NOT_FOUND', async () => {
    const cluster = await startCluster(cleanups);
    const data = randomBytes(3 * 1024 * 1024);
    const digest = await cluster.client.uploadBlob(data, CLUSTER_INSTANCE);
    const laptop = await startLaptop(cleanups, cluster.url);
    const range = await laptop.client.read(blobName('', digest), { offset: 1_000_000, limit: 500_000 });
    expect(range.equals(data.subarray(1_000_000, 1_500_000))).toBe(true);
    expect((await laptop.client.downloadBlob(digest)).equals(data)).toBe(true);
    await expect(laptop.client.downloadBlob(digestOf(Buffer.from('never uploaded')))).rejects.toEqual(grpcError(status.NOT_FOUND));
  });

  it('action results go to the cluster and come back through a fresh laptop', async () => {
    const cluster = await startCluster(cleanups);
    const laptop = await startLaptop(cleanups, cluster.url);
    const actionDigest = digestOf(Buffer.from('an action'));
    await expect(laptop.client.getActionResult({ actionDigest })).rejects.toEqual(grpcError(status.NOT_FOUND));
    await laptop.client.updateActionResult({ actionDigest, actionResult: { exitCode: 0, stdoutRaw: Buffer.from('hello\n') } });
    const onCluster = await cluster.client.getActionResult({ instanceName: CLUSTER_INSTANCE, actionDigest });
    expect(onCluster.stdoutRaw.toString()).toBe('hello\n');
    await laptop.stop();
    const fresh = await startLaptop(cleanups, cluster.url);
    expect((await fresh.client.getActionResult({ actionDigest })).stdoutRaw.toString()).toBe('hello\n');
  });
});
