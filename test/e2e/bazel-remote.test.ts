// Real Bazel (4.2.3) against two daemons: a "cluster" on what `ncache init
// --exec` writes (it runs the actions) and a "laptop" on what `ncache init
// --remote` writes (filesystem tiers in front of the cluster's CAS and AC, the
// grpc scheduler forwarding execution), Bazel pointed at the laptop only.
// Judged by what Bazel reports and by each daemon's own `ncache ops`/`stats`:
// every action runs on the cluster's worker -> a fresh laptop serves a clean
// build all from the cluster through its grpc stores -> an input the cluster
// lost but the laptop has is uploaded on MISSING -> the cluster stopped
// mid-build is an UNAVAILABLE naming it, the laptop's own hits still work,
// and the next build after the cluster is back succeeds.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OpsResult } from '../../src/daemon/control/ops.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import { BazelWorkspace, type BazelRun, type SpawnRecord } from '../helpers/bazel.js';
import { bazelOrSkip, describeRun } from '../helpers/bazel-gate.js';
import { dropInlineCopies, inlineCopies, storesListing } from '../helpers/catalog-entries.js';
import type { DaemonProcess } from '../helpers/daemon-process.js';
import { type Cluster, type TeamDaemon, cliJson, clusterFixture, laptopFixture } from '../helpers/remote-daemons.js';
import { waitFor } from '../helpers/wait-for.js';

const bazel = bazelOrSkip('test/e2e/bazel-remote.test.ts', 'Bazel through a laptop daemon to a cluster daemon');
const STEP_TIMEOUT = 10 * 60_000;

/** Targets added to the exec fixture: an action that runs long enough to stop the cluster under it. */
const EXTRA_BUILD = `# Added by test/e2e/bazel-remote.test.ts.
genrule(
    name = "slow",
    outs = ["slow.txt"],
    cmd = "echo \\"started, salt $$NCACHE_EXEC_SALT\\"; sleep 120; echo done > $@",
    tags = ["manual"],
)
`;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const describeSpawn = (s: SpawnRecord) => `${s.mnemonic} ${s.progressMessage} (runner: ${s.runner}, exit ${s.exitCode})`;
const salted = (salt: string) => [`--action_env=NCACHE_EXEC_SALT=${salt}`, `--host_action_env=NCACHE_EXEC_SALT=${salt}`];

function outputDigest(run: BazelRun, name: string): { hash: string; sizeBytes: number } {
  const found = (run.spawns ?? []).flatMap((s) => s.actualOutputs).find((o) => o.path.endsWith(`/${name}`));
  if (found?.digest === undefined) throw new Error(`no output ${name} with a digest in the execution log: ${describeRun(run)}`);
  return { hash: found.digest.hash, sizeBytes: Number(found.digest.sizeBytes) };
}

const methodCalls = (s: StatsResult, service: string, method: string): number => s.requests?.services[service]?.methods[method]?.requests ?? 0;
const stats = (d: TeamDaemon) => cliJson<StatsResult>(d, ['stats']);
const ops = (d: TeamDaemon) => cliJson<OpsResult>(d, ['ops']);

describe.skipIf(!bazel)('Bazel 4.2.3 through a laptop daemon (init --remote) to a cluster daemon (init --exec)', () => {
  let cluster: Cluster;
  let clusterDaemon: DaemonProcess;
  const laptops: TeamDaemon[] = [];
  let laptop: TeamDaemon;
  let laptopDaemon: DaemonProcess;
  let ws: BazelWorkspace;
  let cold: BazelRun;
  const remote = (): string[] => [`--remote_executor=${laptopDaemon.url}`, '--spawn_strategy=remote'];

  const startLaptop = async () => {
    laptop = await laptopFixture(cluster.url);
    laptops.push(laptop);
    laptopDaemon = await laptop.fixture.start();
  };

  beforeAll(async () => {
    cluster = await clusterFixture();
    clusterDaemon = await cluster.fixture.start();
    await startLaptop();
    ws = await BazelWorkspace.create({ fixture: 'bazel-exec-workspace', files: { 'remote/BUILD': EXTRA_BUILD } });
  }, STEP_TIMEOUT);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    console.error(`--- laptop serve log (tail) ---\n${laptopDaemon?.stderr().slice(-5000)}`);
    console.error(`--- cluster serve log (tail) ---\n${clusterDaemon?.stderr().slice(-5000)}`);
  });

  afterAll(async () => {
    await ws?.cleanup();
    for (const l of laptops) await l.fixture.cleanup();
    await cluster?.fixture.cleanup();
  }, STEP_TIMEOUT);

  it(
    'build and test: every action is forwarded and runs on the cluster\'s worker, none on the laptop or in Bazel',
    async () => {
      cold = await ws.run('test', [...remote(), '//...'], { executionLog: true });
      const summary = cold.summary!;
      expect(summary, describeRun(cold)).toBeDefined();
      expect(summary.remoteCacheHits, describeRun(cold)).toBe(0);
      expect(summary.localExecuted, describeRun(cold)).toBe(0);
      expect(summary.remoteExecuted, describeRun(cold)).toBe(cold.spawns!.length);
      expect(cold.spawns!.filter((s) => s.runner !== 'remote' || s.exitCode !== 0).map(describeSpawn)).toEqual([]);
      expect(cold.stdout + cold.stderr).toMatch(/\/\/:outputs_test\s+PASSED/);

      // The cluster's scheduler ran each of them on its worker, and all succeeded.
      const [scheduler] = (await stats(cluster)).execution?.schedulers ?? [];
      expect(scheduler).toMatchObject({ workers: 1, completed: cold.spawns!.length, failed: 0 });
      // The laptop has no worker: its scheduler forwards, and its Execution service saw each action once.
      expect((await stats(laptop)).execution?.schedulers.every((s) => s.workers === 0)).toBe(true);
      expect(methodCalls(await stats(laptop), 'execution', 'Execute')).toBe(cold.spawns!.length);

      // The outputs came back through the laptop, bytes intact.
      const bigPath = join(await ws.binPath(''), 'big.bin');
      expect(sha256(await readFile(bigPath))).toBe(outputDigest(cold, 'big.bin').hash);
    },
    STEP_TIMEOUT,
  );

  it(
    'after bazel clean, a fresh laptop daemon (empty tiers) answers every action as a cache hit from the cluster, through its grpc stores',
    async () => {
      await laptop.fixture.cleanup();
      await startLaptop();
      const before = await stats(cluster);
      await ws.run('clean');
      const warm = await ws.run('test', [...remote(), '//...'], { executionLog: true });
      const summary = warm.summary!;
      expect(summary, describeRun(warm)).toBeDefined();
      expect(summary.executed, describeRun(warm)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(warm)).toBe(cold.spawns!.length);
      expect(warm.stdout + warm.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);

      // The laptop had nothing: each result and each output was read from the cluster.
      const after = await stats(cluster);
      expect(methodCalls(after, 'ac', 'GetActionResult') - methodCalls(before, 'ac', 'GetActionResult')).toBeGreaterThanOrEqual(cold.spawns!.length);
      const reads = (s: StatsResult) => methodCalls(s, 'bytestream', 'Read') + methodCalls(s, 'cas', 'BatchReadBlobs');
      expect(reads(after)).toBeGreaterThan(reads(before));
      expect(methodCalls(after, 'execution', 'Execute')).toBe(methodCalls(before, 'execution', 'Execute'));
      const bigPath = join(await ws.binPath(''), 'big.bin');
      expect(sha256(await readFile(bigPath))).toBe(outputDigest(cold, 'big.bin').hash);

      // ...and kept it: the laptop's own tiers hold the big output now.
      const big = outputDigest(cold, 'big.bin');
      expect(existsSync(join(laptop.fixture.dataDir, 'cas', `${big.hash}-${big.sizeBytes}`))).toBe(true);
    },
    STEP_TIMEOUT,
  );

  it(
    'an input the cluster lost but the laptop has is reported MISSING by the cluster, uploaded by the laptop, and the build succeeds',
    async () => {
      const salt = `missing-${randomUUID()}`;
      const first = await ws.run('build', [...remote(), ...salted(salt), '//:lost_a'], { executionLog: true });
      expect(first.summary?.remoteExecuted, describeRun(first)).toBe(1);
      const lostA = outputDigest(first, 'lost_a.txt');
      // Bazel downloaded it through the laptop, which kept a copy (a small one: inline in its catalog);
      // the cluster loses its own, a file its worker handed over, behind its back.
      expect(storesListing(laptop.fixture.stateDir, lostA).length).toBeGreaterThan(0);
      const clusterFile = join(cluster.fixture.dataDir, 'cas', `${lostA.hash}-${lostA.sizeBytes}`);
      const clusterHolds = () => existsSync(clusterFile) || inlineCopies(cluster.fixture.stateDir, lostA) > 0;
      expect(clusterHolds(), clusterFile).toBe(true);
      dropInlineCopies(cluster.fixture.stateDir, lostA);
      await rm(clusterFile, { force: true });
      expect(clusterHolds()).toBe(false);

      const [laptopBefore, clusterBefore] = [await stats(laptop), await stats(cluster)];
      const second = await ws.run('build', [...remote(), ...salted(salt), '//:lost_b'], { executionLog: true });
      expect(second.summary?.remoteExecuted, describeRun(second)).toBe(1);
      const lostB = join(await ws.binPath(''), 'lost_b.txt');
      expect(await readFile(lostB, 'utf8')).toBe(`lost input, salt ${salt}\nread by lost_b\n`);
      // Bazel sent one Execute (the laptop answered MISSING to nobody); the cluster got two: MISSING, then the retry.
      const [laptopAfter, clusterAfter] = [await stats(laptop), await stats(cluster)];
      expect(methodCalls(laptopAfter, 'execution', 'Execute') - methodCalls(laptopBefore, 'execution', 'Execute')).toBe(1);
      expect(methodCalls(clusterAfter, 'execution', 'Execute') - methodCalls(clusterBefore, 'execution', 'Execute')).toBe(2);
      // The laptop's upload is the only way the lost bytes are back on the cluster.
      expect(clusterHolds(), clusterFile).toBe(true);
    },
    STEP_TIMEOUT,
  );

  it(
    'the cluster stopped mid-build: Bazel sees UNAVAILABLE naming the cluster, the laptop still serves what it holds, and once the cluster is back the next build succeeds',
    async () => {
      const salt = `outage-${randomUUID()}`;
      const building = ws.run('build', [...remote(), ...salted(salt), '--remote_retries=1', '//remote:slow'], { allowFailure: true, timeoutMs: 5 * 60_000 });
      await waitFor(async () => (await ops(cluster)).operations.some((o) => o.stage === 'executing'), {
        what: 'the cluster to start running //remote:slow',
        timeoutMs: 120_000,
      });
      await clusterDaemon.stop({ timeoutMs: 15_000 });

      const failed = await building;
      expect(failed.exitCode, describeRun(failed)).not.toBe(0);
      const output = failed.stdout + failed.stderr;
      expect(output, describeRun(failed)).toContain('UNAVAILABLE');
      expect(output, describeRun(failed)).toContain(`upstream ${cluster.url}`);

      // What the laptop already holds is still served without the cluster: test (b) filled its tiers.
      await ws.run('clean');
      const offline = await ws.run('build', [...remote(), '//:chain_c'], { executionLog: true });
      expect(offline.summary?.executed, describeRun(offline)).toBe(0);
      expect(offline.summary?.remoteCacheHits, describeRun(offline)).toBe(3);

      clusterDaemon = await cluster.fixture.start();
      const recovered = await ws.run('build', [...remote(), ...salted(`back-${randomUUID()}`), '//:stamped'], { executionLog: true });
      expect(recovered.summary?.localExecuted, describeRun(recovered)).toBe(0);
      expect(recovered.summary?.remoteExecuted, describeRun(recovered)).toBeGreaterThanOrEqual(1);
      expect(await readFile(join(await ws.binPath(''), 'stamped.txt'), 'utf8')).toMatch(/^stamped by stamp\.sh/);
    },
    STEP_TIMEOUT,
  );
});
