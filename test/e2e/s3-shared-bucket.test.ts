// Two "laptops" sharing one S3 bucket, end to end with real parts: Bazel
// 4.2.3, two `ncache serve` child processes (each its own fast tier and
// catalog), s3rver behind a counting fault proxy, the real AWS SDK.
//
// A builds cold and uploads (write-behind; a graceful stop flushes what is
// owed). B, with an empty fast tier, then gets every cacheable action as a
// remote cache hit, served from S3. A second clean build through B, its fast
// tier now full, makes no S3 request at all. Then the same with faults
// injected into A's uploads and B's downloads (500, 503 SlowDown, resets
// mid-body, latency): the builds still succeed and B still gets every hit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BazelRun, BazelWorkspace } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, labels } from '../helpers/bazel-gate.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import {
  bucketClient,
  listObjects,
  stopAndCheckFlushed,
  unfinishedMultipartUploads,
  verifyObjects,
} from '../helpers/s3-daemon.js';
import type { S3rverHandle } from '../helpers/s3rver.js';
import { S3World } from '../helpers/s3-world.js';

const bazel = bazelOrSkip('test/e2e/s3-shared-bucket.test.ts', 'S3 shared bucket end to end');
const STEP_TIMEOUT = 10 * 60_000;

/** Asserts that a build after `bazel clean` was all remote cache hits: nothing ran here. */
function expectAllHits(run: BazelRun, cold: BazelRun): void {
  const summary = run.summary;
  expect(summary, describeRun(run)).toBeDefined();
  expect(summary!.executed, describeRun(run)).toBe(0);
  expect(summary!.remoteCacheHits, describeRun(run)).toBe(cacheable(cold.spawns!).length);
  expect(labels(cacheable(run.spawns!))).toEqual(labels(cacheable(cold.spawns!)));
  expect(run.spawns!.filter((s) => !s.remoteCacheHit).map((s) => `${s.mnemonic} ${s.progressMessage}`)).toEqual([]);
  expect(run.stdout + run.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);
}

describe.skipIf(!bazel)('two daemons sharing one S3 bucket (real Bazel, s3rver, fault proxy)', () => {
  let world: S3World;
  let s3: S3rverHandle;
  let proxy: FaultProxy;
  let ws: BazelWorkspace;
  const laptop = (keyPrefix: string) => world.laptop(keyPrefix);

  beforeAll(async () => {
    world = await S3World.start('ncache-e2e');
    ({ s3, proxy, ws } = world);
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await world?.cleanup();
  }, STEP_TIMEOUT);

  it(
    'A uploads; B with an empty fast tier gets all hits from S3; B again makes zero S3 requests',
    async () => {
      const prefix = 'shared/';
      const a = await laptop(prefix);
      const b = await laptop(prefix);
      const client = bucketClient(s3.endpoint);

      // Cold build through A.
      const daemonA = await a.start();
      proxy.resetCounts();
      const cold = await ws.run('test', [`--remote_cache=${daemonA.url}`, '//...'], { executionLog: true });
      expect(cold.summary?.remoteCacheHits, describeRun(cold)).toBe(0);
      expect(cold.summary?.executed, describeRun(cold)).toBe(cacheable(cold.spawns!).length);
      // A graceful stop uploads whatever write-behind still owes.
      const stoppedA = await stopAndCheckFlushed(daemonA);
      expect(stoppedA, daemonA.stderr()).toEqual({ exitCode: 0, stillOwed: [] });
      const coldCounts = proxy.counts();
      const putKeys = proxy.requests.filter((r) => r.op === 'PutObject' || r.op === 'CreateMultipartUpload').map((r) => r.url.split('?')[0]!);
      const repeated = putKeys.filter((k, i) => putKeys.indexOf(k) !== i);
      // Write-behind sends each blob once: no key is uploaded twice.
      expect(repeated).toEqual([]);
      console.log(`[s3 e2e] cold build through A (uploads), ${Math.round(cold.elapsedMs)} ms: S3 requests ${JSON.stringify(coldCounts)}`);

      // What A uploaded is in the bucket, whole: every output of every cold action, and their action results.
      // (The empty blob is never uploaded: REAPI servers hold it implicitly.)
      const outputs = new Set(
        cold.spawns!
          .flatMap((s) => s.actualOutputs)
          .filter((o) => o.digest !== undefined && o.digest.sizeBytes !== '0')
          .map((o) => `${o.digest!.hash}-${o.digest!.sizeBytes}`),
      );
      const casNames = new Set((await listObjects(client, s3.bucket, `${prefix}cas/`)).map((o) => o.key.slice(`${prefix}cas/`.length)));
      expect([...outputs].filter((name) => !casNames.has(name))).toEqual([]);
      const acObjects = await listObjects(client, s3.bucket, `${prefix}ac/`);
      expect(acObjects.length).toBe(cacheable(cold.spawns!).length);
      expect((await verifyObjects(client, s3.bucket, `${prefix}cas/`)).bad).toEqual([]);
      expect(unfinishedMultipartUploads(proxy.requests)).toEqual([]);

      // B, empty fast tier, after bazel clean: everything from S3.
      const daemonB = await b.start();
      await ws.run('clean');
      proxy.resetCounts();
      const fromS3 = await ws.run('test', [`--remote_cache=${daemonB.url}`, '//...'], { executionLog: true });
      expectAllHits(fromS3, cold);
      const fromS3Counts = proxy.counts();
      console.log(`[s3 e2e] warm build through B, empty fast tier, ${Math.round(fromS3.elapsedMs)} ms: S3 requests ${JSON.stringify(fromS3Counts)}`);
      // Served from S3: B read action results and outputs from the bucket, and uploaded nothing.
      expect(fromS3Counts.GetObject ?? 0).toBeGreaterThanOrEqual(acObjects.length);
      expect(fromS3Counts.PutObject ?? 0).toBe(0);
      expect(fromS3Counts.CreateMultipartUpload ?? 0).toBe(0);

      // B again: its fast tier has everything now; S3 is not asked anything.
      await ws.run('clean');
      proxy.resetCounts();
      const local = await ws.run('test', [`--remote_cache=${daemonB.url}`, '//...'], { executionLog: true });
      expectAllHits(local, cold);
      const localCounts = proxy.counts();
      console.log(`[s3 e2e] warm build through B, full fast tier, ${Math.round(local.elapsedMs)} ms: S3 requests ${JSON.stringify(localCounts)}`);
      expect(localCounts).toEqual({});

      const stoppedB = await stopAndCheckFlushed(daemonB);
      expect(stoppedB, daemonB.stderr()).toEqual({ exitCode: 0, stillOwed: [] });
      client.destroy();
    },
    STEP_TIMEOUT,
  );

  it(
    'faults (500, 503 SlowDown, resets mid-body, latency) during A\'s uploads and B\'s downloads: all hits still',
    async () => {
      const prefix = 'faulty/';
      const a = await laptop(prefix);
      const b = await laptop(prefix);
      const client = bucketClient(s3.endpoint);

      const injectAll = () => {
        for (const ops of [['PutObject'], ['UploadPart'], ['GetObject'], ['HeadObject']] as const) {
          proxy.inject({ ops: [...ops], times: 2, fault: { type: 'status', status: 500 } });
          proxy.inject({ ops: [...ops], times: 2, fault: { type: 'status', status: 503, code: 'SlowDown' } });
          proxy.inject({ ops: [...ops], times: 2, fault: { type: 'latency', ms: 300 } });
        }
        // Bodies cut half way: an upload's request body, a download's response body.
        proxy.inject({ ops: ['PutObject', 'UploadPart'], times: 2, fault: { type: 'reset' } });
        proxy.inject({ ops: ['GetObject'], times: 2, fault: { type: 'reset' } });
      };

      await ws.run('clean');
      const daemonA = await a.start();
      proxy.resetCounts();
      injectAll();
      const cold = await ws.run('test', [`--remote_cache=${daemonA.url}`, '//...'], { executionLog: true });
      expect(cold.summary?.executed, describeRun(cold)).toBe(cacheable(cold.spawns!).length);
      const stoppedA = await stopAndCheckFlushed(daemonA);
      expect(stoppedA, daemonA.stderr()).toEqual({ exitCode: 0, stillOwed: [] });
      const faultedA = proxy.requests.filter((r) => r.fault !== undefined).length;
      console.log(`[s3 e2e] faulty cold build through A: ${faultedA} faulted, S3 requests ${JSON.stringify(proxy.counts())}`);
      expect(faultedA).toBeGreaterThan(0);
      // Every object is whole and hashes to its name; no multipart upload was left open.
      const verified = await verifyObjects(client, s3.bucket, `${prefix}cas/`);
      expect(verified.bad).toEqual([]);
      expect(verified.checked).toBeGreaterThan(0);
      expect(unfinishedMultipartUploads(proxy.requests)).toEqual([]);

      const daemonB = await b.start();
      await ws.run('clean');
      proxy.clearFaults();
      proxy.resetCounts();
      injectAll();
      const warm = await ws.run('test', [`--remote_cache=${daemonB.url}`, '//...'], { executionLog: true });
      expectAllHits(warm, cold);
      const faultedB = proxy.requests.filter((r) => r.fault !== undefined).length;
      console.log(`[s3 e2e] faulty warm build through B: ${faultedB} faulted, S3 requests ${JSON.stringify(proxy.counts())}`);
      expect(faultedB).toBeGreaterThan(0);
      proxy.clearFaults();
      await stopAndCheckFlushed(daemonB);
      client.destroy();
    },
    STEP_TIMEOUT,
  );
});
