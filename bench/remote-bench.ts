// The remote section: laptop -> cluster over loopback. A "cluster" daemon
// (`ncache init --exec`) runs the Bazel section's workspace once (cold,
// Bazel connected to it directly), then, in rounds in one run, warm builds
// (`bazel clean`, every action a cache hit) three ways: Bazel connected
// directly to the cluster; through a fresh "laptop" daemon (`ncache init
// --remote`, empty tiers: every hit comes from the cluster through its grpc
// stores and is kept); and through that laptop again (every hit from its own
// tiers). Wall time of `bazel build`, ratios to the direct build, and daemon
// CPU per cache hit for each daemon (/proc, excludes the actions). With
// NCACHE_BENCH_CPU_PROF_DIR the laptop daemon is profiled and summarized.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BazelWorkspace, findBazel, type BazelRun } from '../test/helpers/bazel.js';
import type { DaemonProcess } from '../test/helpers/daemon-process.js';
import { clusterFixture, laptopFixture } from '../test/helpers/remote-daemons.js';
import { benchWorkspace } from './bench-workspace.js';
import { formatSummary, readProfile, summarizeProfile } from './cpu-profile.js';
import type { BenchSettings } from './env.js';
import { mb, median, seconds, table } from './format.js';
import { processCpuSeconds } from './proc-usage.js';

type Print = (line: string) => void;

interface Timed {
  run: BazelRun;
  clusterCpu: number;
  laptopCpu: number;
}

interface Row {
  name: string;
  /** Whether Bazel talks to a laptop daemon (its CPU column applies). */
  viaLaptop: boolean;
  runs: Timed[];
}

/** Each row of one round, in order: a fresh laptop is started before "empty" and reused by "warm". */
const ROWS = ['direct', 'laptop, empty tier', 'laptop, warm tier'] as const;

export async function runRemoteBench(settings: BenchSettings, print: Print): Promise<void> {
  print('\n## Laptop -> cluster (init --remote in front of init --exec, over loopback)');
  if (!findBazel()) {
    print('skipped: `bazel` is not on PATH (install Debian\'s bazel-bootstrap)');
    return;
  }
  const shape = benchWorkspace(settings.bazel);
  print(
    `workspace: ${shape.genrules} genrules, ${mb(shape.outputBytes)} of outputs, executed once on the cluster (Bazel connected directly); ` +
      `then ${settings.remote.rounds} round(s) of warm builds (bazel clean, all cache hits): direct to the cluster, ` +
      'through a fresh laptop daemon (empty tiers), through the same laptop again (its tiers warm)',
  );
  const cluster = await clusterFixture();
  const ws = await BazelWorkspace.create({ files: shape.files, withStubs: false });
  const rows: Row[] = ROWS.map((name) => ({ name, viaLaptop: name !== 'direct', runs: [] }));
  try {
    const clusterDaemon = await cluster.fixture.start();
    const executor = (d: DaemonProcess) => [`--remote_executor=${d.url}`, '--spawn_strategy=remote'];
    const build = async (flags: string[], laptop: DaemonProcess | undefined): Promise<Timed> => {
      await ws.run('clean');
      const cpu = () => Promise.all([processCpuSeconds(clusterDaemon.pid), laptop ? processCpuSeconds(laptop.pid) : 0]);
      const before = await cpu();
      const run = await ws.run('build', [...flags, '//...']);
      const after = await cpu();
      return { run, clusterCpu: after[0] - before[0], laptopCpu: after[1] - before[1] };
    };
    const cold = await build(executor(clusterDaemon), undefined);
    print(`  cold build on the cluster (not in the table): ${seconds(cold.run.elapsedMs)}  [${cold.run.summary?.line ?? 'no summary'}]`);

    for (let round = 1; round <= settings.remote.rounds; round++) {
      const laptop = await laptopFixture(cluster.url);
      const profileDir = settings.bazel.cpuProfileDir === undefined ? undefined : join(settings.bazel.cpuProfileDir, `remote-laptop-round${round}-${Date.now()}`);
      const laptopDaemon = await laptop.fixture.start(profileDir === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] });
      try {
        for (const row of rows) {
          const timed = row.viaLaptop ? await build(executor(laptopDaemon), laptopDaemon) : await build(executor(clusterDaemon), undefined);
          row.runs.push(timed);
          print(`  round ${round}, ${row.name}: ${seconds(timed.run.elapsedMs)}  [${timed.run.summary?.line ?? 'no summary'}]`);
        }
        await laptopDaemon.stop();
        if (profileDir !== undefined) await printProfiles(profileDir, `laptop daemon, round ${round} (empty tier, then warm)`, print);
      } finally {
        await laptop.fixture.cleanup();
      }
    }
  } finally {
    await ws.cleanup();
    await cluster.fixture.cleanup();
  }
  printRemoteTable(rows, print);
}

/** The laptop's CPU profile (node --cpu-prof, written when it stops), summarized by self time. */
async function printProfiles(dir: string, title: string, print: Print): Promise<void> {
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'))) {
    print(`\n### CPU profile: ${title} (${join(dir, file)})`);
    for (const line of formatSummary(summarizeProfile(await readProfile(join(dir, file))), 15)) print(line);
  }
}

function printRemoteTable(rows: Row[], print: Print): void {
  const medianMs = (r: Row) => median(r.runs.map((t) => t.run.elapsedMs));
  const direct = rows[0]!;
  const perHit = (cpuSeconds: number, run: BazelRun) => {
    const hits = run.summary?.remoteCacheHits ?? 0;
    return hits > 0 ? `${((cpuSeconds * 1000) / hits).toFixed(2)} ms` : '?';
  };
  print('');
  print(
    table(
      ['warm build (all hits)', 'wall time', 'runs', 'vs direct', 'hits', 'executed', 'cluster CPU/hit', 'laptop CPU/hit'],
      rows.map((row) => {
        const m = medianMs(row);
        const reported = row.runs.find((t) => t.run.elapsedMs === m) ?? row.runs[Math.floor(row.runs.length / 2)]!;
        return [
          row.name,
          seconds(m),
          String(row.runs.length),
          row === direct ? '' : `${(m / medianMs(direct)).toFixed(2)}x`,
          String(reported.run.summary?.remoteCacheHits ?? '?'),
          String(reported.run.summary?.executed ?? '?'),
          perHit(reported.clusterCpu, reported.run),
          row.viaLaptop ? perHit(reported.laptopCpu, reported.run) : '',
        ];
      }),
    ),
  );
  print('(wall time: median of the rounds; CPU columns: the median run, daemon process only, per cache hit Bazel reported)');
  for (const row of rows) {
    const wrong = row.runs.filter((t) => t.run.summary === undefined || t.run.summary.executed !== 0);
    if (wrong.length > 0) print(`WARNING: ${row.name}: ${wrong.length} build(s) executed actions instead of hitting the cache`);
  }
}
