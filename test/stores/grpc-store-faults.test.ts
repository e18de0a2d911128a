// The grpc store when the upstream fails: the cluster stopped in the middle
// of a read or an upload through the laptop (UNAVAILABLE naming the upstream,
// nothing half-written in the fast tier, and recovery once it is back), and a
// connection cut mid-stream that the store resumes on its own.
import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestKey, digestOf } from '../../src/util/digest.js';
import { uploadName } from '../helpers/grpc-client.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { CLUSTER_INSTANCE, startCluster, startLaptop } from './grpc-two-daemons.js';

const cleanups = cleanupsAfterEach();
const MIB = 1024 * 1024;

/** The part of a ServiceError a test looks at. */
function statusOf(err: unknown): { code: unknown; details: unknown } {
  return typeof err === 'object' && err !== null && 'code' in err && 'details' in err ? { code: err.code, details: err.details } : { code: undefined, details: String(err) };
}

/** No committed file for `key` in a filesystem tier, and its temp file gone once the failed write is cleaned up. */
async function nothingHalfWritten(content: string, key: string): Promise<void> {
  expect(existsSync(join(content, key))).toBe(false);
  await waitFor(() => readdirSync(join(content, '..', 'tmp')).length === 0, { what: `no temp file left in ${join(content, '..', 'tmp')}` });
  expect(existsSync(join(content, key))).toBe(false);
}

/** Retries `op` until it succeeds: the laptop reconnects within grpc-js's reconnect backoff (at most 5 s). */
async function once<T>(op: () => Promise<T>, what: string): Promise<T> {
  const result = await waitFor(() => op().then((value) => ({ value }), () => undefined), { what, intervalMs: 200 });
  return result.value;
}

describe('grpc store: the cluster goes away mid-stream', () => {
  it('a read through the laptop fails UNAVAILABLE naming the upstream, leaves the fast tier clean, and works once the cluster is back', async () => {
    const cluster = await startCluster(cleanups);
    const data = randomBytes(24 * MIB);
    const digest = await cluster.client.uploadBlob(data, CLUSTER_INSTANCE);
    // The laptop reaches the cluster through a relay that stalls mid-blob, so the cluster stops while the read is under way.
    const proxy = await TcpProxy.start(cluster.port);
    cleanups.push(() => proxy.close());
    const upstreamUrl = `grpc://127.0.0.1:${proxy.port}`;
    const laptop = await startLaptop(cleanups, cluster.url, { upstreamUrl, retry: { max_retries: 2, delay: 0.01, jitter: 0 } });
    const stalled = proxy.holdOnce(8 * MIB, 'down');
    const read = laptop.client.downloadBlob(digest).catch((e: unknown) => e);
    await stalled;
    await cluster.stop();
    proxy.cutAll();
    const { code, details } = statusOf(await read);
    expect(code).toBe(status.UNAVAILABLE);
    expect(details).toContain(`upstream ${upstreamUrl} (instance "main") ByteStream.Read: UNAVAILABLE`);
    await nothingHalfWritten(laptop.casContent, digestKey(digest));

    await cluster.start();
    expect((await once(() => laptop.client.downloadBlob(digest), 'the laptop to read through the returned cluster')).equals(data)).toBe(true);
  });

  it('an upload through the laptop fails UNAVAILABLE naming the upstream, commits nothing locally, and succeeds again once the cluster is back', async () => {
    const cluster = await startCluster(cleanups);
    const laptop = await startLaptop(cleanups, cluster.url, { retry: { max_retries: 2, delay: 0.01, jitter: 0 } });
    const data = randomBytes(40 * MIB);
    const digest = digestOf(data);
    const handle = laptop.client.openWrite();
    const name = uploadName('', digest);
    const chunk = MIB;
    const outcome = handle.response.then(
      () => undefined,
      (e: unknown) => e,
    );
    try {
      for (let at = 0; at < data.length; at += chunk) {
        if (at === 8 * MIB) await cluster.stop();
        const last = at + chunk >= data.length;
        if (!(await handle.send({ resourceName: at === 0 ? name : '', writeOffset: at, data: data.subarray(at, at + chunk), finishWrite: last }))) break;
      }
      handle.end();
    } catch {
      // The laptop answered with its error while the test was still sending: `outcome` has it.
    }
    const { code, details } = statusOf(await outcome);
    expect(code).toBe(status.UNAVAILABLE);
    expect(details).toContain(`upstream ${cluster.url} (instance "main")`);
    await nothingHalfWritten(laptop.casContent, digestKey(digest));

    await cluster.start();
    await once(() => laptop.client.uploadBlob(data), 'the laptop to upload through the returned cluster');
    expect((await cluster.client.downloadBlob(digest, CLUSTER_INSTANCE)).equals(data)).toBe(true);
  });
});
