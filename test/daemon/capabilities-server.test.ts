import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { HEALTH_NOT_SERVING, HEALTH_SERVICE_UNKNOWN, HEALTH_SERVING } from '../../src/proto/reapi.js';
import { digestOf } from '../../src/util/digest.js';
import { startFixture } from './fixture.js';
import { grpcError } from '../helpers/grpc-matchers.js';

describe('Capabilities', () => {
  it('advertises a SHA-256 cache, API 2.0 to 2.3, and no execution when none is configured', async () => {
    const f = await startFixture();
    try {
      const caps = await f.client.getCapabilities('');
      expect(caps.lowApiVersion).toMatchObject({ major: 2, minor: 0 });
      expect(caps.highApiVersion).toMatchObject({ major: 2, minor: 3 });
      expect(caps.cacheCapabilities).toMatchObject({
        digestFunctions: [1],
        actionCacheUpdateCapabilities: { updateEnabled: true },
        maxBatchTotalSizeBytes: 4 * 1024 * 1024,
        symlinkAbsolutePathStrategy: 2,
      });
      expect(caps.executionCapabilities).toBeNull();
      await expect(f.client.getCapabilities('other')).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /unknown instance name "other" for the capabilities service/),
      );
    } finally {
      await f.stop();
    }
  });

  it('reports update_enabled false for a read_only action cache', async () => {
    const f = await startFixture({ readOnlyAc: true });
    try {
      expect((await f.client.getCapabilities('')).cacheCapabilities?.actionCacheUpdateCapabilities?.updateEnabled).toBe(false);
    } finally {
      await f.stop();
    }
  });

  it('includes execution capabilities only with an execution service, which answers Execute', async () => {
    const f = await startFixture({ execution: true, instanceName: 'main' });
    try {
      const caps = await f.client.getCapabilities('main');
      expect(caps.executionCapabilities).toMatchObject({ digestFunction: 1, digestFunctions: [1], execEnabled: true });
      expect(caps.cacheCapabilities?.digestFunctions).toEqual([1]);
      // An action that is not in the CAS: a done operation asking for it (test/daemon/execution-requests.test.ts has the details).
      const ops = await f.client.execute({ instanceName: 'main', actionDigest: digestOf(Buffer.from('a')) });
      expect(ops.map((op) => op.done)).toEqual([true]);
      await expect(f.client.execute({ instanceName: 'elsewhere' })).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /unknown instance name "elsewhere" for the execution service/),
      );
    } finally {
      await f.stop();
    }
  });

  it('does not serve Execution at all when it is not configured', async () => {
    const f = await startFixture();
    try {
      await expect(f.client.execute({ instanceName: '' })).rejects.toEqual(grpcError(status.UNIMPLEMENTED));
    } finally {
      await f.stop();
    }
  });
});

describe('Health', () => {
  it('answers SERVING for the server and its services, NOT_FOUND for others, and ends Watch on stop', async () => {
    const f = await startFixture();
    let stopped = false;
    try {
      expect((await f.client.healthCheck('')).status).toBe(HEALTH_SERVING);
      expect((await f.client.healthCheck('google.bytestream.ByteStream')).status).toBe(HEALTH_SERVING);
      expect((await f.client.healthCheck('build.bazel.remote.execution.v2.ActionCache')).status).toBe(HEALTH_SERVING);
      await expect(f.client.healthCheck('no.such.Service')).rejects.toEqual(grpcError(status.NOT_FOUND, /unknown service/));

      const unknown = f.client.healthWatch('no.such.Service');
      const unknownFirst = new Promise((resolve) => unknown.once('data', resolve));
      expect(await unknownFirst).toEqual({ status: HEALTH_SERVICE_UNKNOWN });
      unknown.cancel();
      unknown.on('error', () => {});

      const watch = f.client.healthWatch('');
      const seen: number[] = [];
      const ended = new Promise<void>((resolve) => {
        watch.on('data', (m: { status: number }) => seen.push(m.status));
        watch.on('end', () => resolve());
        watch.on('error', () => resolve());
      });
      await new Promise((resolve) => watch.once('data', resolve));
      // A graceful stop is not held open by the watcher: it is told and ended.
      await f.stop(30_000);
      stopped = true;
      await ended;
      expect(seen).toEqual([HEALTH_SERVING, HEALTH_NOT_SERVING]);
    } finally {
      if (!stopped) await f.stop();
    }
  });
});
