// How many calls a fresh laptop (fast_slow { fast: filesystem, slow: grpc })
// makes to the cluster for each read its fast tier misses: one. The grpc
// store's read itself says whether the value exists and how big it is, so the
// fill asks no FindMissingBlobs or GetActionResult before it; a miss is the
// read's NOT_FOUND. Counted by the laptop's own upstream counters, against a
// real second daemon over loopback.
import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collectStats } from '../../src/daemon/control/stats.js';
import { systemClock } from '../../src/util/clock.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { CLUSTER_INSTANCE, type Laptop, startCluster, startLaptop } from './grpc-two-daemons.js';

const cleanups = cleanupsAfterEach();

/** Calls the laptop's grpc stores made to the cluster so far, by store type. */
function upstreamCalls(laptop: Laptop): { cas: number; ac: number } {
  const { upstream } = collectStats({
    config: laptop.config,
    stores: laptop.daemon.stores,
    addresses: laptop.daemon.addresses,
    startedAtMs: 0,
    pid: process.pid,
    version: 'test',
    clock: systemClock,
    schedulers: new Map(),
  });
  const calls = (type: string) => upstream.filter((u) => u.storeType === type).reduce((n, u) => n + u.requests + u.retries, 0);
  return { cas: calls('cas'), ac: calls('ac') };
}

describe('fast_slow over a grpc slow tier: one upstream call per fast-tier miss', () => {
  it('reads blobs only the cluster holds with one ByteStream call each, fills the fast tier, and a missing blob costs one call', async () => {
    const cluster = await startCluster(cleanups);
    const blobs = [randomBytes(1500), randomBytes(70_000), randomBytes(3 * 1024 * 1024 + 7)];
    const digests: Digest[] = [];
    for (const blob of blobs) digests.push(await cluster.client.uploadBlob(blob, CLUSTER_INSTANCE));
    const laptop = await startLaptop(cleanups, cluster.url);
    const before = upstreamCalls(laptop);

    for (const [i, digest] of digests.entries()) expect((await laptop.client.downloadBlob(digest)).equals(blobs[i]!)).toBe(true);
    expect(upstreamCalls(laptop).cas - before.cas).toBe(blobs.length);
    await waitFor(() => digests.every((d) => laptop.fastTierHolds(d)), { what: 'every blob in the fast tier' });

    const nowhere = digestOf(Buffer.from('never uploaded anywhere'));
    await expect(laptop.client.downloadBlob(nowhere)).rejects.toEqual(grpcError(status.NOT_FOUND));
    expect(upstreamCalls(laptop).cas - before.cas).toBe(blobs.length + 1);
    expect(laptop.fastTierHolds(nowhere)).toBe(false);

    // Filled: the second reads stay on the laptop.
    for (const [i, digest] of digests.entries()) expect((await laptop.client.downloadBlob(digest)).equals(blobs[i]!)).toBe(true);
    expect(upstreamCalls(laptop).cas - before.cas).toBe(blobs.length + 1);
  });

  it('answers an action-cache lookup the laptop lacks with one GetActionResult, hit or miss', async () => {
    const cluster = await startCluster(cleanups);
    const actionDigest = digestOf(Buffer.from('an action the cluster ran'));
    await cluster.client.updateActionResult({ instanceName: CLUSTER_INSTANCE, actionDigest, actionResult: { exitCode: 0, stdoutRaw: Buffer.from('ran\n') } });
    const laptop = await startLaptop(cleanups, cluster.url);
    const before = upstreamCalls(laptop);

    expect((await laptop.client.getActionResult({ actionDigest })).stdoutRaw.toString()).toBe('ran\n');
    expect(upstreamCalls(laptop).ac - before.ac).toBe(1);
    const unknown = digestOf(Buffer.from('an action nobody ran'));
    await expect(laptop.client.getActionResult({ actionDigest: unknown })).rejects.toEqual(grpcError(status.NOT_FOUND));
    expect(upstreamCalls(laptop).ac - before.ac).toBe(2);
  });

  it('answers NOT_FOUND at once for a blob the laptop lacks while the cluster is down, as an existence check would', async () => {
    const cluster = await startCluster(cleanups);
    const data = randomBytes(10_000);
    const digest = await cluster.client.uploadBlob(data, CLUSTER_INSTANCE);
    const laptop = await startLaptop(cleanups, cluster.url, { retry: { max_retries: 0, delay: 0.01, jitter: 0 } });
    await cluster.stop();
    await expect(laptop.client.downloadBlob(digest)).rejects.toEqual(grpcError(status.NOT_FOUND));
    expect(laptop.fastTierHolds(digest)).toBe(false);
    await cluster.start();
    await waitFor(() => laptop.client.downloadBlob(digest).then((b) => b.equals(data), () => false), { what: 'a read through the returned cluster', intervalMs: 200 });
  });
});
