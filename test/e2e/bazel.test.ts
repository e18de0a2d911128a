// Real Bazel (4.2.3) using `ncache serve` as its remote cache, judged only by
// what Bazel itself reports: its process summary line and its execution log.
// Cold build (uploads) -> daemon restart on the same stores -> bazel clean ->
// warm build where every cacheable action must be a remote cache hit, the
// sh_test result included -> a Builds-without-the-Bytes build.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BazelWorkspace, type BazelRun } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, labels } from '../helpers/bazel-gate.js';
import { DaemonFixture, type DaemonProcess } from '../helpers/daemon-process.js';

const bazel = bazelOrSkip('test/e2e/bazel.test.ts', 'Bazel end to end');
const STEP_TIMEOUT = 10 * 60_000;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe.skipIf(!bazel)('Bazel 4.2.3 with ncache serve as its remote cache', () => {
  let daemons: DaemonFixture;
  let daemon: DaemonProcess;
  let ws: BazelWorkspace;
  let cold: BazelRun;

  beforeAll(async () => {
    daemons = await DaemonFixture.create();
    ws = await BazelWorkspace.create({ fixture: 'bazel-workspace' });
    daemon = await daemons.start();
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await ws?.cleanup();
    await daemons?.cleanup();
  }, STEP_TIMEOUT);

  it(
    'cold build and test: everything runs locally and is uploaded',
    async () => {
      cold = await ws.run('test', [`--remote_cache=${daemon.url}`, '//...'], { executionLog: true });
      const summary = cold.summary!;
      expect(summary, describeRun(cold)).toBeDefined();
      expect(summary.remoteCacheHits, describeRun(cold)).toBe(0);
      expect(cold.stdout + cold.stderr).toMatch(/\/\/:outputs_test\s+PASSED/);

      const spawns = cacheable(cold.spawns!);
      // Six genrules (chain a/b/c, multi, big, big_summary) and the test: Bazel 4 runs the
      // test and then a second TestRunner spawn that writes its test.xml; both are cacheable.
      expect(spawns.filter((s) => s.mnemonic === 'Genrule')).toHaveLength(6);
      expect(spawns.filter((s) => s.progressMessage === 'Testing //:outputs_test').length).toBeGreaterThanOrEqual(1);
      expect(spawns.every((s) => !s.remoteCacheHit && s.exitCode === 0)).toBe(true);
      expect(summary.executed).toBe(spawns.length);
    },
    STEP_TIMEOUT,
  );

  it(
    'after a daemon restart and bazel clean, every cacheable action is a remote cache hit',
    async () => {
      const stopped = await daemon.stop();
      expect(stopped, daemon.stderr()).toEqual({ code: 0, signal: null, forced: false });
      daemon = await daemons.start(); // same config, same stores, a new port

      await ws.run('clean');
      const warm = await ws.run('test', [`--remote_cache=${daemon.url}`, '//...'], { executionLog: true });
      const summary = warm.summary!;
      expect(summary, describeRun(warm)).toBeDefined();

      const coldCacheable = cacheable(cold.spawns!);
      const warmSpawns = warm.spawns!;
      // Bazel's own count: nothing ran here, and every cacheable action of the cold build was a hit.
      expect(summary.executed, describeRun(warm)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(warm)).toBe(coldCacheable.length);
      // Per action, from the execution log: the same actions, each served by the remote cache.
      expect(labels(cacheable(warmSpawns))).toEqual(labels(coldCacheable));
      const missed = warmSpawns.filter((s) => !s.remoteCacheHit).map((s) => `${s.mnemonic} ${s.progressMessage} (runner: ${s.runner})`);
      expect(missed).toEqual([]);

      // The test result itself came from the cache.
      expect(warm.stdout + warm.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);
      expect(warm.stdout + warm.stderr).toMatch(/Executed 0 out of 1 test/);

      // The downloaded outputs are the bytes the cold build produced.
      const bigDigest = coldCacheable.flatMap((s) => s.actualOutputs).find((o) => o.path.endsWith('/big.bin'))!.digest!;
      const bigPath = await ws.binPath('big.bin');
      expect(await sha256File(bigPath)).toBe(bigDigest.hash);
      expect(Number(bigDigest.sizeBytes)).toBe(8 * 1024 * 1024);
      expect(await readFile(await ws.binPath('multi/upper.txt'), 'utf8')).toContain('STEP C');
    },
    STEP_TIMEOUT,
  );

  it(
    'a --remote_download_minimal build after bazel clean is all hits and downloads nothing',
    async () => {
      await ws.run('clean');
      const minimal = await ws.run('build', [`--remote_cache=${daemon.url}`, '--remote_download_minimal', '//...'], {
        executionLog: true,
      });
      const summary = minimal.summary!;
      expect(summary, describeRun(minimal)).toBeDefined();
      const genrules = cacheable(cold.spawns!).filter((s) => s.mnemonic === 'Genrule');
      expect(summary.executed, describeRun(minimal)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(minimal)).toBe(genrules.length);
      expect(minimal.spawns!.every((s) => s.remoteCacheHit)).toBe(true);
      // Builds without the Bytes: the 8 MiB output stays in the cache.
      expect(existsSync(await ws.binPath('big.bin'))).toBe(false);
    },
    STEP_TIMEOUT,
  );
});
