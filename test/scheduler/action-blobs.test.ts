// copyMissing, the grpc scheduler's copy of a result's blobs between the
// upstream's CAS and the local one, against a real cluster daemon and real
// filesystem stores.
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { copyMissing } from '../../src/scheduler/action-blobs.js';
import { createGrpcStore } from '../../src/stores/grpc-store.js';
import type { FilesystemStore } from '../../src/stores/filesystem-store.js';
import type { StoreContext } from '../../src/stores/store-context.js';
import { readBuffer } from '../../src/stores/store.js';
import { systemClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { silentLogger } from '../../src/util/logger.js';
import { mixedBytes } from '../helpers/data.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { CLUSTER_INSTANCE, grpcSpec, startCluster } from '../stores/grpc-two-daemons.js';

const cleanups = cleanupsAfterEach();

const ctx: StoreContext = {
  logger: silentLogger,
  clock: systemClock,
  storeByName: () => {
    throw new Error('no named stores here');
  },
};

async function localCas(): Promise<FilesystemStore> {
  return (await startedFilesystemStore(cleanups, { prefix: 'ncache-copy-' })).store;
}

describe('copyMissing from an upstream CAS', () => {
  it('a local CAS that refuses a write before reading does not leave the upstream read holding a request slot', async () => {
    const cluster = await startCluster(cleanups);
    // One request at a time: a read left open would hold the only slot, and every later call would wait forever.
    const upstream = createGrpcStore({ ...grpcSpec(cluster.url, 'cas'), max_concurrent_requests: 1 }, ctx, 'stores[0]');
    cleanups.push(() => upstream.close?.());
    const blobs = [mixedBytes(2 << 20, 1), mixedBytes(2 << 20, 2)];
    for (const blob of blobs) await cluster.client.uploadBlob(blob, CLUSTER_INSTANCE);
    const digests = blobs.map((b) => digestOf(b));

    const broken = await localCas();
    await rm(broken.tempPath, { recursive: true }); // every write now fails opening its temp file, before reading a byte
    await expect(copyMissing(upstream, broken, [digests[0]!])).rejects.toThrow(/tmp/);

    const working = await localCas();
    const report = await copyMissing(upstream, working, digests);
    expect(report).toEqual({ copied: 2, absent: [] });
    for (const [i, digest] of digests.entries()) expect((await readBuffer(working, digest)).equals(blobs[i]!)).toBe(true);
  }, 20_000);
});
