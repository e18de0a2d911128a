// Real Bazel (4.2.3) running its actions on ncache (`--remote_executor`),
// against `ncache serve` on NativeLink's basic_cas layout (test/helpers/
// exec-config.ts: scheduler, local worker, worker_api listener). Judged by
// what Bazel reports (its process summary, execution log, test results) and
// by the bytes on disk: a cold build and test where every action runs on the
// worker -> bazel clean and all remote cache hits -> a Builds-without-the-
// Bytes remote build whose outputs are fetched from the CAS -> an input the
// daemon lost between two actions (MISSING, re-upload, success) -> a failing
// action and a test that outlives its timeout.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import { BazelWorkspace, fixturesDir, type BazelRun, type SpawnRecord } from '../helpers/bazel.js';
import { dropInlineCopies, inlineCopies } from '../helpers/catalog-entries.js';
import { bazelOrSkip, describeRun } from '../helpers/bazel-gate.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { execConfigText } from '../helpers/exec-config.js';
import { createReapiClient, type ReapiClient } from '../helpers/grpc-client.js';
import { closedPort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

const bazel = bazelOrSkip('test/e2e/bazel-exec.test.ts', 'Bazel remote execution');
const STEP_TIMEOUT = 10 * 60_000;

/** The genrules of //...: chain a/b/c, multi, big, stamped, use_gen_tool, and gen_tool twice (built itself, and for the host as a tool). */
const GENRULES = 9;
const BIG_BYTES = 3_000_000;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** What each output must hold, computed here from the fixture's seed the way its BUILD computes it (`salt`: NCACHE_EXEC_SALT). */
async function expectedOutputs(salt = ''): Promise<Record<string, string>> {
  const seed = await readFile(join(fixturesDir(), 'bazel-exec-workspace', 'seed.txt'), 'utf8');
  const chainB = `${seed}step a\nstep b\n`;
  const chainC = `${chainB}step c\n${Buffer.byteLength(chainB)}\n`;
  const lines = (text: string) => text.split('\n').length - 1;
  return {
    'chain_b.txt': chainB,
    'chain_c.txt': chainC,
    'multi/upper.txt': chainC.toUpperCase(),
    'multi/lines.txt': `${lines(chainC)}\n`,
    'multi/empty.txt': '',
    'stamped.txt': `stamped by stamp.sh: ${lines(chainC)} lines\n${Buffer.byteLength(chainB)}\nsalt: ${salt}\n`,
    'use_gen_tool.txt': `generated tool saw ${lines(chainB)} lines\n`,
  };
}

/** big.bin: `head -c 3000000 <(seq -f 'ncache exec fixture line %09g' 1 200000)`. */
function expectedBig(): Buffer {
  const lines: string[] = [];
  let bytes = 0;
  for (let i = 1; bytes < BIG_BYTES; i++) {
    const line = `ncache exec fixture line ${String(i).padStart(9, '0')}\n`;
    lines.push(line);
    bytes += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, BIG_BYTES);
}

/** The digest Bazel's execution log reports for the output whose path ends with `/name`. */
function outputDigest(run: BazelRun, name: string): { hash: string; sizeBytes: number } {
  const found = (run.spawns ?? []).flatMap((s) => s.actualOutputs).find((o) => o.path.endsWith(`/${name}`));
  if (found?.digest === undefined) throw new Error(`no output ${name} with a digest in the execution log: ${describeRun(run)}`);
  return { hash: found.digest.hash, sizeBytes: Number(found.digest.sizeBytes) };
}

const describeSpawn = (s: SpawnRecord) => `${s.mnemonic} ${s.progressMessage} (runner: ${s.runner}, exit ${s.exitCode})`;

/** Whether a process with exactly this command line (argv) is running on this machine. */
async function processRunning(argv: string[]): Promise<boolean> {
  const wanted = `${argv.join('\0')}\0`;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === wanted) return true;
  }
  return false;
}

describe.skipIf(!bazel)('Bazel 4.2.3 running its actions on ncache (--remote_executor)', () => {
  let cli: CliDaemon;
  let ws: BazelWorkspace;
  let client: ReapiClient;
  let cold: BazelRun;
  let expected: Record<string, string>;
  const remote = (): string[] => [`--remote_executor=${cli.daemon.url}`, '--spawn_strategy=remote'];
  let binDir: string;
  const outputPath = (name: string): string => join(binDir, name);

  const stats = async (): Promise<StatsResult> => {
    const run = await cli.run(['stats', '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as StatsResult;
  };
  const executeCalls = (s: StatsResult): number => s.requests?.services['execution']?.methods['Execute']?.requests ?? 0;

  beforeAll(async () => {
    expected = await expectedOutputs();
    const workerApiPort = await closedPort();
    cli = await startCliDaemon({ configText: execConfigText({ dataDir: '${NCACHE_TEST_DIR}/data', workerApiPort }) });
    client = createReapiClient(cli.address);
    ws = await BazelWorkspace.create({ fixture: 'bazel-exec-workspace' });
    binDir = await ws.binPath('');
  }, STEP_TIMEOUT);

  // What the daemon said is half the story of a failed case.
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(`--- ncache serve log (tail) ---\n${cli?.daemon.stderr().slice(-6000)}`);
  });

  afterAll(async () => {
    client?.close();
    await ws?.cleanup();
    await cli?.stop();
  }, STEP_TIMEOUT);

  it(
    'build and test: every action runs on the worker, none here, and the outputs are right on disk',
    async () => {
      cold = await ws.run('test', [...remote(), '//...'], { executionLog: true });
      const summary = cold.summary!;
      expect(summary, describeRun(cold)).toBeDefined();
      expect(summary.remoteCacheHits, describeRun(cold)).toBe(0);
      expect(summary.localExecuted, describeRun(cold)).toBe(0);
      expect(summary.remoteExecuted, describeRun(cold)).toBe(summary.executed);
      expect(cold.stdout + cold.stderr).toMatch(/\/\/:outputs_test\s+PASSED/);

      const spawns = cold.spawns!;
      expect(spawns.filter((s) => s.mnemonic === 'Genrule')).toHaveLength(GENRULES);
      expect(spawns.filter((s) => s.progressMessage === 'Testing //:outputs_test').length).toBeGreaterThanOrEqual(1);
      expect(spawns.filter((s) => s.runner !== 'remote' || s.exitCode !== 0).map(describeSpawn)).toEqual([]);
      expect(summary.remoteExecuted).toBe(spawns.length);

      for (const [name, content] of Object.entries(expected)) {
        expect(await readFile(outputPath(name), 'utf8'), name).toBe(content);
      }
      const big = await readFile(outputPath('big.bin'));
      expect(big.length).toBe(BIG_BYTES);
      expect(sha256(big)).toBe(sha256(expectedBig()));
      expect(outputDigest(cold, 'big.bin')).toEqual({ hash: sha256(big), sizeBytes: BIG_BYTES });
      // The generated tool came back executable (and ran as one in use_gen_tool).
      expect((await stat(outputPath('gen_tool.sh'))).mode & 0o111).not.toBe(0);
    },
    STEP_TIMEOUT,
  );

  it(
    'after bazel clean, the same build and test is all remote cache hits',
    async () => {
      await ws.run('clean');
      const warm = await ws.run('test', [...remote(), '//...'], { executionLog: true });
      const summary = warm.summary!;
      expect(summary, describeRun(warm)).toBeDefined();
      expect(summary.executed, describeRun(warm)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(warm)).toBe(cold.spawns!.length);
      expect(warm.spawns!.filter((s) => !s.remoteCacheHit).map(describeSpawn)).toEqual([]);
      expect(warm.stdout + warm.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);

      for (const [name, content] of Object.entries(expected)) {
        expect(await readFile(outputPath(name), 'utf8'), name).toBe(content);
      }
      expect(sha256(await readFile(outputPath('big.bin')))).toBe(outputDigest(cold, 'big.bin').hash);
    },
    STEP_TIMEOUT,
  );

  it(
    'a --remote_download_minimal build runs every action remotely and its outputs can be fetched from the CAS',
    async () => {
      await ws.run('clean');
      // A new action environment changes every action key: all of them run again, on the
      // worker, reading inputs Bazel itself never downloaded.
      const salt = `minimal-${randomUUID()}`;
      const saltFlags = [`--action_env=NCACHE_EXEC_SALT=${salt}`, `--host_action_env=NCACHE_EXEC_SALT=${salt}`];
      const minimal = await ws.run('test', [...remote(), '--remote_download_minimal', ...saltFlags, '//...'], { executionLog: true });
      const summary = minimal.summary!;
      expect(summary, describeRun(minimal)).toBeDefined();
      expect(summary.remoteCacheHits, describeRun(minimal)).toBe(0);
      expect(summary.localExecuted, describeRun(minimal)).toBe(0);
      expect(summary.remoteExecuted, describeRun(minimal)).toBe(cold.spawns!.length);
      expect(minimal.spawns!.filter((s) => s.runner !== 'remote').map(describeSpawn)).toEqual([]);
      expect(minimal.stdout + minimal.stderr).toMatch(/\/\/:outputs_test\s+PASSED/);
      // Builds without the Bytes: nothing was downloaded...
      expect(existsSync(outputPath('big.bin'))).toBe(false);
      expect(existsSync(outputPath('stamped.txt'))).toBe(false);
      // ...and the final outputs are in the CAS: stamped.txt carries the salt, so these bytes are this build's.
      const stamped = Buffer.from((await expectedOutputs(salt))['stamped.txt']!);
      const fetched = await client.downloadBlob({ hash: sha256(stamped), sizeBytes: stamped.length });
      expect(fetched.toString('utf8')).toBe(stamped.toString('utf8'));
      const big = await client.downloadBlob(outputDigest(cold, 'big.bin'));
      expect(sha256(big)).toBe(outputDigest(cold, 'big.bin').hash);
    },
    STEP_TIMEOUT,
  );

  it(
    'an input lost between two actions is reported MISSING, Bazel uploads it again and the build succeeds',
    async () => {
      // A salt new to this run: lost_a.txt holds it, so no tier and no executable copy has seen its bytes.
      const salt = `missing-${randomUUID()}`;
      const flags = [...remote(), `--action_env=NCACHE_EXEC_SALT=${salt}`];
      const first = await ws.run('build', [...flags, '//:lost_a'], { executionLog: true });
      expect(first.summary?.remoteExecuted, describeRun(first)).toBe(1);
      const lostA = outputDigest(first, 'lost_a.txt');

      // The worker stored it in its own tier (a file it handed over) and in the main CAS (a file, or
      // inline in the catalog: it is small). Lose both copies behind the daemon's back, as a disk
      // cleanup or a crash would: its index still lists them until a read finds them gone.
      const files = ['cas', 'worker-cas'].map((tier) => join(cli.dataDir, tier, 'content', `${lostA.hash}-${lostA.sizeBytes}`));
      let lost = dropInlineCopies(cli.stateDir, lostA);
      for (const file of files.filter((f) => existsSync(f))) {
        await rm(file);
        lost += 1;
      }
      expect(lost).toBe(2);
      // The premise: FindMissingBlobs still answers "present", so Bazel uploads nothing before Execute.
      expect((await client.findMissingBlobs({ blobDigests: [lostA] })).missingBlobDigests).toEqual([]);

      const executesBefore = executeCalls(await stats());
      const second = await ws.run('build', [...flags, '//:lost_b'], { executionLog: true });
      expect(second.summary?.remoteExecuted, describeRun(second)).toBe(1);
      expect(second.summary?.localExecuted, describeRun(second)).toBe(0);
      expect(await readFile(outputPath('lost_b.txt'), 'utf8')).toBe(`lost input, salt ${salt}\nread by lost_b\n`);
      // One action, two Execute calls: the first answered MISSING, the second ran after Bazel's re-upload,
      // which is the only way the lost bytes can be back in the CAS.
      expect(executeCalls(await stats()) - executesBefore).toBeGreaterThanOrEqual(2);
      expect(existsSync(files[0]!) || inlineCopies(cli.stateDir, lostA) > 0).toBe(true);
      expect((await client.findMissingBlobs({ blobDigests: [lostA] })).missingBlobDigests).toEqual([]);

      // The daemon's catalog agrees with its files again: nothing listed is missing or damaged.
      const verify = await cli.run(['verify', '--tier', 'fast', '--json']);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    },
    STEP_TIMEOUT,
  );

  it(
    'a failing action is Bazel\'s failure with its stderr shown, and is never cached',
    async () => {
      for (const attempt of ['first', 'again']) {
        const failed = await ws.run('build', [...remote(), '//:fails'], { allowFailure: true, executionLog: true });
        expect(failed.exitCode, `${attempt}: ${describeRun(failed)}`).toBe(1);
        expect(failed.stderr).toMatch(/Executing genrule \/\/:fails failed/);
        expect(failed.stderr).toContain('ncache-exec: this action fails on purpose');
        // It ran on the worker (no local fallback), both times: a failure is not a cache entry.
        const spawn = failed.spawns?.find((s) => s.mnemonic === 'Genrule');
        expect(spawn, `${attempt}: ${describeRun(failed)}`).toMatchObject({ runner: 'remote', remoteCacheHit: false, exitCode: 1 });
      }
    },
    STEP_TIMEOUT,
  );

  it(
    'a test that outlives its timeout is a TIMEOUT, with its output so far, and nothing of it keeps running',
    async () => {
      const slow = await ws.run('test', [...remote(), '--test_timeout=3', '//:sleepy_test'], { allowFailure: true, executionLog: true });
      expect(slow.exitCode, describeRun(slow)).toBe(3);
      expect(slow.stdout + slow.stderr).toMatch(/\/\/:sleepy_test\s+TIMEOUT/);
      expect(slow.spawns?.find((s) => s.progressMessage === 'Testing //:sleepy_test')?.runner).toBe('remote');
      const testlogs = (await ws.run('info', ['bazel-testlogs'])).stdout.trim();
      expect(await readFile(join(testlogs, 'sleepy_test', 'test.log'), 'utf8')).toContain('sleepy_test: started, now sleeping');
      // The worker killed the test's whole process group, its `sleep` included.
      await waitFor(async () => !(await processRunning(['sleep', '3517'])), { what: 'the timed-out test\'s sleep 3517 to be killed' });
    },
    STEP_TIMEOUT,
  );
});
