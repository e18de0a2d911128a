// Issue 11's scenario, with real parts: the seed config (memory fast tiers
// over S3, only its port set to 0), s3rver behind the counting proxy, real
// Bazel 4.2.3, `ncache serve` child processes with their own state dirs.
//
// Laptop A builds cold, then warm after `bazel clean`. The bucket is emptied
// through the S3 API (a lifecycle rule, a teammate wiping the prefix). A
// restarts (its catalog still believes the bucket holds everything) and builds
// again after `bazel clean`: nothing is served from the gone objects, every
// action runs here and its outputs are uploaded again. Laptop B (a fresh state
// dir) then gets every cacheable action as a remote cache hit, and again with
// its memory tiers full, at zero S3 requests. Each step prints its S3 request
// counts (docs/reliability.md, "Presence").
//
// Then the endpoint change: the same config and state dir with
// AWS_ENDPOINT_URL_S3 pointing at a second s3rver (same bucket and prefixes):
// A forgets what it knew about the first, serves nothing from that knowledge
// (no GET for a gone object), runs every action and uploads to the second,
// where a fresh laptop gets all hits.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { walkSpecs } from '../../src/config/store-tree.js';
import { type BazelRun, BazelWorkspace, type SpawnRecord } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, labels } from '../helpers/bazel-gate.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { bucketClient, listObjects, s3DaemonEnv } from '../helpers/s3-daemon.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';

const bazel = bazelOrSkip('test/e2e/presence-wipe.test.ts', 'presence after the bucket is emptied');
const STEP_TIMEOUT = 10 * 60_000;
const SEED_CONFIG = fileURLToPath(new URL('../fixtures/configs/nativelink-s3-example.json5', import.meta.url));
const INSTANCE = 'main';

/** One S3 endpoint: s3rver and the counting proxy daemons talk to. */
interface Endpoint {
  s3: S3rverHandle;
  proxy: FaultProxy;
}

/** The seed's one bucket, read from the file. */
async function seedBucket(): Promise<string> {
  const config = await loadConfigFile(SEED_CONFIG, {});
  const buckets = new Set<string>();
  for (const named of config.stores) {
    walkSpecs(named.spec, '', (spec) => {
      if (spec.kind === 'experimental_cloud_object_store') buckets.add(spec.bucket);
    });
  }
  expect(buckets.size).toBe(1);
  return [...buckets][0]!;
}

/** The seed config with only its listener's port changed to 0 (so it runs beside anything). */
async function seedOnPortZero(dir: string): Promise<string> {
  const text = await readFile(SEED_CONFIG, 'utf8');
  const from = 'socket_address: "0.0.0.0:50051"';
  expect(text.split(from)).toHaveLength(2);
  const path = join(dir, 'seed.port-0.json5');
  await writeFile(path, text.replace(from, 'socket_address: "0.0.0.0:0"'));
  return path;
}

/** Deletes every object in the bucket through the S3 API (straight to s3rver, not counted). */
async function emptyBucket(endpoint: Endpoint): Promise<number> {
  const client = bucketClient(endpoint.s3.endpoint);
  try {
    const objects = await listObjects(client, endpoint.s3.bucket, '');
    for (let i = 0; i < objects.length; i += 1000) {
      const batch = objects.slice(i, i + 1000).map((o) => ({ Key: o.key }));
      await client.send(new DeleteObjectsCommand({ Bucket: endpoint.s3.bucket, Delete: { Objects: batch } }));
    }
    expect(await listObjects(client, endpoint.s3.bucket, '')).toEqual([]);
    return objects.length;
  } finally {
    client.destroy();
  }
}

async function objectCount(endpoint: Endpoint, prefix: string): Promise<number> {
  const client = bucketClient(endpoint.s3.endpoint);
  try {
    return (await listObjects(client, endpoint.s3.bucket, prefix)).length;
  } finally {
    client.destroy();
  }
}

/**
 * The spawn that writes test.xml: its key includes the test's measured
 * duration, which Bazel takes from the test spawn (a cache hit's differs from
 * the run that uploaded it), so on a loaded machine it may miss whatever the
 * cache does. It is never served wrong: a miss runs it here.
 */
const writesTestXml = (s: SpawnRecord): boolean => s.actualOutputs.some((o) => o.path.endsWith('/test.xml'));

/** Every cacheable action was a remote cache hit whose outputs downloaded (the test.xml writer may run here instead). */
function expectAllHits(run: BazelRun, cold: BazelRun): void {
  expect(run.summary, describeRun(run)).toBeDefined();
  expect(labels(cacheable(run.spawns!))).toEqual(labels(cacheable(cold.spawns!)));
  const missed = cacheable(run.spawns!).filter((s) => !s.remoteCacheHit);
  expect(missed.filter((s) => !writesTestXml(s)).map((s) => `${s.mnemonic} ${s.progressMessage}`), describeRun(run)).toEqual([]);
  expect(run.summary!.executed, describeRun(run)).toBe(missed.length);
  expect(run.summary!.remoteCacheHits, describeRun(run)).toBe(cacheable(cold.spawns!).length - missed.length);
  expect(run.stdout + run.stderr).toMatch(/\/\/:outputs_test\s+(\(cached\) )?PASSED/);
}

/** A build whose every action was a hit from the local tiers: S3 was not asked anything. */
function expectNoS3Requests(run: BazelRun, at: Endpoint): void {
  // Only a test.xml writer that missed (above) runs and uploads; everything it needs is local too.
  if (run.summary!.executed === 0) expect(at.proxy.counts()).toEqual({});
  else expect(at.proxy.counts().GetObject ?? 0).toBe(0);
}

/** Every cacheable action ran here (nothing was served from the cache), and the build passed. */
function expectAllExecuted(run: BazelRun, cold: BazelRun): void {
  expect(run.summary, describeRun(run)).toBeDefined();
  expect(run.summary!.remoteCacheHits, describeRun(run)).toBe(0);
  expect(run.summary!.executed, describeRun(run)).toBe(cacheable(cold.spawns!).length);
  expect(run.stdout + run.stderr).toMatch(/\/\/:outputs_test\s+PASSED/);
}

describe.skipIf(!bazel)('presence after the bucket is emptied (seed config, real Bazel, s3rver)', () => {
  let dir: string;
  let configPath: string;
  let ws: BazelWorkspace;
  const endpoints: Endpoint[] = [];
  const daemons: DaemonProcess[] = [];
  let cold: BazelRun;
  /** S3 request counts per step, printed at the end for docs/reliability.md. */
  const figures: string[] = [];

  async function endpoint(bucket: string): Promise<Endpoint> {
    const s3 = await startS3rver({ buckets: [bucket] });
    const proxy = await FaultProxy.start(s3.endpoint);
    const e = { s3, proxy };
    endpoints.push(e);
    return e;
  }

  /** `ncache serve` on the seed config, its own state dir, S3 at `at` through AWS_ENDPOINT_URL_S3 (as the seed test does). */
  async function serve(laptop: string, at: Endpoint): Promise<DaemonProcess> {
    const stateDir = join(dir, laptop, 'state');
    await mkdir(stateDir, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...s3DaemonEnv(stateDir), AWS_ENDPOINT_URL_S3: at.proxy.endpoint };
    delete env.AWS_REGION; // the file's own region
    const daemon = await DaemonProcess.start({ configPath, env });
    daemons.push(daemon);
    return daemon;
  }

  const port = (daemon: DaemonProcess): string => /:(\d+)$/.exec(daemon.address)![1]!;

  /** `bazel clean`, then `bazel test //...` through `daemon`, counting S3 requests at `at`. */
  async function build(step: string, daemon: DaemonProcess, at: Endpoint): Promise<BazelRun> {
    await ws.run('clean');
    at.proxy.resetCounts();
    const run = await ws.run(
      'test',
      [`--remote_cache=grpc://127.0.0.1:${port(daemon)}`, `--remote_instance_name=${INSTANCE}`, '//...'],
      { executionLog: true, allowFailure: true },
    );
    const line = `${step}: ${run.summary?.line ?? `(no summary; exit ${run.exitCode})`}; S3 requests ${JSON.stringify(at.proxy.counts())}`;
    figures.push(line);
    console.log(`[presence e2e] ${line}`);
    expect(run.exitCode, describeRun(run)).toBe(0);
    return run;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ncache-presence-e2e-'));
    configPath = await seedOnPortZero(dir);
    ws = await BazelWorkspace.create({ fixture: 'bazel-workspace' });
  }, STEP_TIMEOUT);

  afterAll(async () => {
    console.log(`[presence e2e] figures:\n  ${figures.join('\n  ')}`);
    for (const d of daemons) await d.stop({ timeoutMs: 30_000 });
    await ws?.cleanup();
    for (const e of endpoints) {
      await e.proxy.close();
      await e.s3.stop();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, STEP_TIMEOUT);

  it(
    'A builds; the bucket is emptied; A restarts and rebuilds, uploading again; fresh B gets every action as a hit',
    async () => {
      const one = await endpoint(await seedBucket());
      let a = await serve('a', one);
      cold = await build('A cold', a, one);
      expectAllExecuted(cold, cold);
      const actions = cacheable(cold.spawns!).length;
      expect(await objectCount(one, 'test-prefix-ac/')).toBe(actions);

      // Warm, same process: the memory tiers hold everything, S3 is not asked anything.
      const warmA = await build('A warm after bazel clean', a, one);
      expectAllHits(warmA, cold);
      expectNoS3Requests(warmA, one);

      expect(await a.stop({ timeoutMs: 60_000 })).toMatchObject({ code: 0, forced: false });
      const removed = await emptyBucket(one);
      expect(removed).toBeGreaterThan(actions);

      // A restarts: empty memory tiers, a catalog that remembers the bucket as it was.
      a = await serve('a', one);
      const rebuilt = await build('A after the bucket was emptied, restarted', a, one);
      expectAllExecuted(rebuilt, cold);
      // Every action result and every output went back to the bucket.
      expect(await objectCount(one, 'test-prefix-ac/')).toBe(actions);
      const outputs = new Set(
        rebuilt.spawns!.flatMap((s) => s.actualOutputs).filter((o) => o.digest !== undefined && o.digest.sizeBytes !== '0'),
      );
      expect(await objectCount(one, 'test-prefix-index/')).toBeGreaterThanOrEqual(new Set([...outputs].map((o) => o.digest!.hash)).size);
      expect(await a.stop({ timeoutMs: 60_000 })).toMatchObject({ code: 0, forced: false });

      // B, fresh: every cacheable action is a hit whose outputs download.
      const b = await serve('b', one);
      const fromS3 = await build('B fresh (empty memory tiers and catalog)', b, one);
      expectAllHits(fromS3, cold);
      if (fromS3.summary!.executed === 0) {
        expect((one.proxy.counts().PutObject ?? 0) + (one.proxy.counts().CreateMultipartUpload ?? 0)).toBe(0);
      }
      const warmB = await build('B warm after bazel clean', b, one);
      expectAllHits(warmB, cold);
      expectNoS3Requests(warmB, one);
      await b.stop({ timeoutMs: 60_000 });
    },
    4 * STEP_TIMEOUT,
  );

  it(
    'the same config and state dir pointed at another endpoint (same bucket and prefixes) uses none of what it knew',
    async () => {
      expect(cold, 'the first scenario must have run').toBeDefined();
      const one = endpoints[0]!;
      const two = await endpoint(one.s3.bucket);
      const actions = cacheable(cold.spawns!).length;

      // A's catalog knows what endpoint 1 holds (it uploaded everything there in the first scenario).
      const a = await serve('a', two);
      expect(a.stderr()).toMatch(/fast_slow AC_MAIN_STORE: the slow tier's config changed; forgot what the old one held \(\d+ blobs\)/);
      const moved = await build('A on endpoint 2 (its catalog knew endpoint 1)', a, two);
      expectAllExecuted(moved, cold);
      // Nothing was fetched on the word of endpoint 1's knowledge: existence was asked, not assumed.
      expect(two.proxy.counts().GetObject ?? 0).toBe(0);
      expect(await objectCount(two, 'test-prefix-ac/')).toBe(actions);
      expect(await a.stop({ timeoutMs: 60_000 })).toMatchObject({ code: 0, forced: false });

      const c = await serve('c', two);
      expectAllHits(await build('C fresh on endpoint 2', c, two), cold);
      await c.stop({ timeoutMs: 60_000 });
    },
    3 * STEP_TIMEOUT,
  );
});
