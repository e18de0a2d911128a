// The Execution section: the Bazel section's workspace (bench-workspace.ts)
// built cold with Bazel's own local execution (`--spawn_strategy=local`, no
// cache) beside remote execution through ncache (`--remote_executor`, a fresh
// daemon per build, so every action executes), alternating in rounds in one
// run. Two daemon layouts: what `ncache init --exec` writes (one filesystem
// CAS the worker links from) and NativeLink's basic_cas (the worker's own
// filesystem tier over the CAS: inputs copied into it once, outputs stored in
// both). Then, from the ActionResults the init --exec builds left in the
// action cache, each action's stages (ExecutedActionMetadata); from a grpc-js
// client, Execute sent -> process started for tiny actions; and the
// materialization of a 10,000-file input tree.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { callMethod } from '../src/daemon/control/client.js';
import { controlPaths } from '../src/daemon/control/paths.js';
import type { ExecutedActionMetadata } from '../src/proto/reapi.js';
import { BazelWorkspace, findBazel, type BazelRun } from '../test/helpers/bazel.js';
import type { DaemonFixture, DaemonProcess } from '../test/helpers/daemon-process.js';
import { execDaemonFixture, initExecDaemonFixture } from '../test/helpers/exec-config.js';
import { createReapiClient, type ReapiClient } from '../test/helpers/grpc-client.js';
import { type ActionTimings, percentile, timingTable, timingsOf } from './action-timings.js';
import { benchWorkspace } from './bench-workspace.js';
import { formatSummary, readProfile, summarizeProfile } from './cpu-profile.js';
import type { BenchSettings } from './env.js';
import { executeCommand, uploadInputTree } from './exec-actions.js';
import { mb, median, millis, seconds, table } from './format.js';
import { processCpuSeconds } from './proc-usage.js';

// Aims from issue 10 (numbers for the bench, never for tests).
const AIM_REMOTE_VS_LOCAL = 1.3;
const AIM_SCHEDULING_P50_MS = 2;
const AIM_TREE_MATERIALIZE_MS = 1000;

type Print = (line: string) => void;

interface Timed {
  run: BazelRun;
  bazelCpu: number;
  daemonCpu: number;
}

type Layout = 'init --exec' | 'basic_cas';

interface Scenario {
  name: string;
  /** The daemon's config and extra Bazel flags given its URL; absent: local execution, no daemon. */
  remote?: { layout: Layout; flags: (url: string) => string[]; timings: boolean; root?: string };
  runs: Timed[];
}

/** A fresh execution daemon (empty stores), optionally profiled; its profile summary is printed after it stops. */
interface ExecDaemon {
  fixture: DaemonFixture;
  daemon: DaemonProcess;
  profileDir: string | undefined;
}

async function startExecDaemon(settings: BenchSettings, layout: Layout, label: string, root?: string): Promise<ExecDaemon> {
  const fixture = layout === 'init --exec' ? await initExecDaemonFixture() : await execDaemonFixture();
  const profileRoot = settings.bazel.cpuProfileDir;
  const profileDir = profileRoot === undefined ? undefined : join(profileRoot, `exec-${label}-${Date.now()}`);
  try {
    const daemon = await fixture.start({
      ...(profileDir === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
      ...(root === undefined ? {} : { root }),
    });
    return { fixture, daemon, profileDir };
  } catch (err) {
    await fixture.cleanup();
    throw err;
  }
}

async function stopExecDaemon(d: ExecDaemon, print: Print, title: string): Promise<void> {
  try {
    await d.daemon.stop();
    if (d.profileDir === undefined) return;
    for (const file of (await readdir(d.profileDir)).filter((f) => f.endsWith('.cpuprofile'))) {
      print(`\n### daemon CPU profile: ${title} (${join(d.profileDir, file)})`);
      for (const line of formatSummary(summarizeProfile(await readProfile(join(d.profileDir, file))), 12)) print(line);
    }
  } finally {
    await d.fixture.cleanup();
  }
}

/** Every ActionResult in the daemon's action cache (listed through its control socket, read over gRPC). */
async function cachedMetadata(d: ExecDaemon, client: ReapiClient): Promise<ExecutedActionMetadata[]> {
  const { socketPath } = controlPaths({ ...process.env, NCACHE_STATE_DIR: d.fixture.stateDir });
  const digests: { hash: string; sizeBytes: number }[] = [];
  await callMethod(socketPath, 'ls', { type: 'ac' }, { onItem: (e) => digests.push({ hash: e.hash, sizeBytes: e.sizeBytes }) });
  const out: ExecutedActionMetadata[] = [];
  for (const actionDigest of digests) {
    const result = await client.getActionResult({ actionDigest });
    if (result.executionMetadata !== null) out.push(result.executionMetadata);
  }
  return out;
}

export async function runExecBench(settings: BenchSettings, print: Print): Promise<void> {
  print('\n## Execution (remote execution through ncache vs Bazel\'s local execution)');
  if (!findBazel()) {
    print('skipped: `bazel` is not on PATH (install Debian\'s bazel-bootstrap)');
    return;
  }
  const shape = benchWorkspace(settings.bazel);
  print(
    `workspace: ${shape.genrules} independent genrules, ${mb(shape.outputBytes)} of outputs; ${settings.exec.rounds} round(s) ` +
      'of the rows below in order, each remote row on a fresh daemon (empty stores: every action executes)',
  );
  print(
    'daemons: "init --exec" = the config `ncache init --exec` writes (one filesystem CAS, inputs hardlinked from it, outputs moved into it); ' +
      '"basic_cas" = NativeLink\'s layout (test/helpers/exec-config.ts: the worker\'s own filesystem tier over the CAS)',
  );

  const executor = (url: string) => [`--remote_executor=${url}`, '--spawn_strategy=remote'];
  const scenarios: Scenario[] = [
    { name: 'local (--spawn_strategy=local, no cache)', runs: [] },
    { name: 'ncache, init --exec', remote: { layout: 'init --exec', flags: executor, timings: true }, runs: [] },
    {
      name: 'ncache, init --exec, --remote_download_minimal',
      remote: { layout: 'init --exec', flags: (url) => [...executor(url), '--remote_download_minimal'], timings: false },
      runs: [],
    },
    { name: 'ncache, basic_cas', remote: { layout: 'basic_cas', flags: executor, timings: false }, runs: [] },
  ];
  // Before/after in one run: the baseline checkout's init --exec daemon beside this one's, alternating which goes first.
  const baselineRoot = settings.bazel.baselineRoot;
  if (baselineRoot !== undefined) {
    print(`baseline daemon: ${baselineRoot} (NCACHE_BENCH_BASELINE_ROOT); only the init --exec rows, baseline and this checkout alternating`);
    scenarios.splice(2, 2, { name: 'ncache, init --exec (baseline)', remote: { layout: 'init --exec', flags: executor, timings: false, root: baselineRoot }, runs: [] });
  }
  const timings: ActionTimings[] = [];
  const ws = await BazelWorkspace.create({ files: shape.files, withStubs: false });
  try {
    const build = async (flags: readonly string[], daemonPid: number | undefined): Promise<Timed> => {
      await ws.run('clean');
      const bazelPid = await ws.serverPid();
      const cpu = () => Promise.all([bazelPid ? processCpuSeconds(bazelPid) : 0, daemonPid ? processCpuSeconds(daemonPid) : 0]);
      const before = await cpu();
      const run = await ws.run('build', [...flags, '//...']);
      const after = await cpu();
      return { run, bazelCpu: after[0] - before[0], daemonCpu: after[1] - before[1] };
    };
    const warmup = await build([], undefined);
    print(`  warm-up build (Bazel server start, analysis; not in the table): ${seconds(warmup.run.elapsedMs)}`);

    for (let round = 1; round <= settings.exec.rounds; round++) {
      const order = baselineRoot !== undefined && round % 2 === 0 ? [scenarios[0], scenarios[2], scenarios[1]] : scenarios;
      for (const scenario of order) {
        if (scenario === undefined) continue;
        let timed: Timed;
        const remote = scenario.remote;
        if (remote === undefined) {
          timed = await build([], undefined);
        } else {
          const d = await startExecDaemon(settings, remote.layout, `round${round}`, remote.root);
          try {
            timed = await build(remote.flags(d.daemon.url), d.daemon.pid);
            if (remote.timings) {
              const client = createReapiClient(d.daemon.address);
              try {
                for (const m of await cachedMetadata(d, client)) {
                  const t = timingsOf(m);
                  if (t !== undefined) timings.push(t);
                }
              } finally {
                client.close();
              }
            }
          } finally {
            await stopExecDaemon(d, print, `${scenario.name}, round ${round}`);
          }
        }
        scenario.runs.push(timed);
        print(`  round ${round}, ${scenario.name}: ${seconds(timed.run.elapsedMs)}  [${timed.run.summary?.line ?? 'no summary'}]`);
      }
    }
  } finally {
    await ws.cleanup();
  }
  printBuildTable(scenarios, print);
  print('');
  print(`Per action, from the ExecutedActionMetadata of the ${timings.length} ActionResults the "init --exec" download-all builds cached:`);
  print(timingTable(timings));
  const p50 = percentile(
    timings.map((t) => t.toProcessMs),
    50,
  );
  print(
    `scheduling overhead (queued -> process started) p50: ${millis(p50)} (aim <= ${AIM_SCHEDULING_P50_MS} ms). ` +
      'queued_timestamp is stamped when the scheduler takes the job, after the Execution service read the Action and Command; ' +
      'the daemon stamps in whole milliseconds',
  );

  await runExecuteProbes(settings, print);
}

function printBuildTable(scenarios: Scenario[], print: Print): void {
  const local = scenarios[0]!;
  const medianMs = (s: Scenario) => median(s.runs.map((r) => r.run.elapsedMs));
  const reported = (s: Scenario): Timed => {
    const m = medianMs(s);
    return s.runs.find((r) => r.run.elapsedMs === m) ?? s.runs[Math.floor(s.runs.length / 2)]!;
  };
  print('');
  print(
    table(
      ['build (cold)', 'wall time', 'runs', 'vs local', 'processes', 'remote', 'local', 'hits', 'Bazel CPU', 'daemon CPU'],
      scenarios.map((s) => {
        const r = reported(s);
        const summary = r.run.summary;
        return [
          s.name,
          seconds(medianMs(s)),
          String(s.runs.length),
          s === local ? '' : `${(medianMs(s) / medianMs(local)).toFixed(2)}x`,
          String(summary?.total ?? '?'),
          String(summary?.remoteExecuted ?? '?'),
          String(summary?.localExecuted ?? '?'),
          String(summary?.remoteCacheHits ?? '?'),
          `${r.bazelCpu.toFixed(2)} s`,
          s.remote === undefined ? '' : `${r.daemonCpu.toFixed(2)} s`,
        ];
      }),
    ),
  );
  print(
    `(wall time: median of the rounds; CPU columns: the median run; Bazel CPU is its server JVM only; daemon CPU excludes ` +
      `the actions' own processes) aim: remote <= ${AIM_REMOTE_VS_LOCAL}x local`,
  );
  for (const s of scenarios.slice(1)) {
    const wrong = s.runs.filter((r) => r.run.summary === undefined || r.run.summary.localExecuted !== 0 || r.run.summary.remoteCacheHits !== 0);
    if (wrong.length > 0) print(`WARNING: ${s.name}: ${wrong.length} build(s) ran actions locally or hit a cache`);
  }
}

/** Execute from a grpc-js client: tiny actions for the overhead, then a 10,000-file input tree. */
async function runExecuteProbes(settings: BenchSettings, print: Print): Promise<void> {
  const { probes, treeFiles } = settings.exec;
  const d = await startExecDaemon(settings, 'init --exec', 'probes');
  const client = createReapiClient(d.daemon.address);
  try {
    const label = `probe-${process.pid}-${Date.now()}`;
    const empty = await uploadInputTree(client, 0, label);
    const toProcess: number[] = [];
    const roundTrip: number[] = [];
    for (let i = 0; i < probes; i++) {
      const run = await executeCommand(client, { arguments: ['/bin/true', `${label}-${i}`], inputRoot: empty.root });
      const m = run.result.executionMetadata;
      const start = m?.executionStartTimestamp;
      if (start === null || start === undefined) throw new Error('a probe result has no execution_start_timestamp');
      toProcess.push(start.seconds * 1000 + start.nanos / 1e6 - run.sentAtMs);
      roundTrip.push(run.doneAtMs - run.sentAtMs);
    }
    print('');
    print(
      `On the init --exec config, Execute from a grpc-js client, ${probes} tiny actions one at a time (/bin/true, empty input root, skip_cache_lookup): ` +
        `Execute sent -> process started p50 ${millis(percentile(toProcess, 50))}, p90 ${millis(percentile(toProcess, 90))}; ` +
        `whole Execute round trip p50 ${millis(percentile(roundTrip, 50))}`,
    );
    print('(client clock against the daemon\'s execution_start_timestamp, one machine; includes gRPC transport and reading Action/Command)');

    const tree = await uploadInputTree(client, treeFiles, `${label}-tree`);
    const rows: string[][] = [];
    const fetches: number[] = [];
    for (const attempt of ['first', 'again', 'again']) {
      const run = await executeCommand(client, {
        arguments: ['/bin/sh', '-c', `test -f d0000/f0000 # ${label} ${rows.length}`],
        inputRoot: tree.root,
      });
      const t = run.result.executionMetadata === null ? undefined : timingsOf(run.result.executionMetadata);
      if (t === undefined) throw new Error('a tree run has incomplete ExecutedActionMetadata');
      if (rows.length > 0) fetches.push(t.inputFetchMs);
      rows.push([attempt, millis(t.inputFetchMs), millis(t.executionMs), millis(run.doneAtMs - run.sentAtMs)]);
    }
    print('');
    print(
      `A ${tree.files.toLocaleString('en-US')}-file input tree (${tree.directories} directories, 200-byte files, not executable) ` +
        'through Execute on the init --exec config (every input a hardlink from the CAS):',
    );
    print(table(['run', 'input fetch + materialize', 'command', 'Execute round trip'], rows));
    print(`materialization with hardlinks (median of the runs after the first): ${millis(median(fetches))} (aim <= ${AIM_TREE_MATERIALIZE_MS} ms)`);
  } finally {
    client.close();
    await stopExecDaemon(d, print, 'Execute probes');
  }
}
