// The Bazel section: one generated workspace (bench-workspace.ts) built
// through each cache of cache-scenarios.ts, cold (every action runs and its
// outputs are stored) and warm (`bazel clean`, then every action should hit).
// Wall time is measured around the `bazel build` command only; the Bazel
// server stays up between builds, as it does for a developer. For daemons it
// also prints CPU per action and memory, and with NCACHE_BENCH_CPU_PROF_DIR
// the top costs of each phase's CPU profile.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BazelWorkspace, findBazel, type BazelRun } from '../test/helpers/bazel.js';
import { benchWorkspace } from './bench-workspace.js';
import { type CacheScenario, type Phase, type RunningCache, cacheScenarios, grpcScenario, httpScenario } from './cache-scenarios.js';
import { formatSummary, readProfile, summarizeProfile } from './cpu-profile.js';
import type { BenchSettings } from './env.js';
import { mb, median, seconds, table } from './format.js';
import { processCpuSeconds, processMemory } from './proc-usage.js';

interface Timed {
  run: BazelRun;
  /** CPU seconds used during the build by the Bazel server and by the daemon (0 without one). */
  bazelCpu: number;
  daemonCpu: number;
}

interface Row {
  scenario: string;
  phase: string;
  runs: Timed[];
  /** The run whose details are reported (the median one). */
  reported: Timed;
}

interface Memory {
  scenario: string;
  idleRss: number;
  warmPeak: number;
}

// Aims from issue 12 (numbers for the bench, never for tests).
const AIM_COLD_VS_NO_CACHE = 1.35;
const AIM_WARM_GRPC_VS_DISK = 1.5;
const AIM_WARM_HTTP_VS_DISK = 1.3;
const AIM_COLD_MS_PER_ACTION = 3;
const AIM_WARM_MS_PER_HIT = 1;
const AIM_IDLE_RSS = 80e6;
const AIM_WARM_PEAK_RSS = 150e6;

const medianMs = (row: Row) => median(row.runs.map((r) => r.run.elapsedMs));

/** Daemon CPU per action of the reported run: cold per action executed, warm per cache hit. */
function daemonMsPerAction(row: Row): number | undefined {
  const { summary } = row.reported.run;
  if (summary === undefined || row.reported.daemonCpu === 0) return undefined;
  const actions = row.phase === 'cold' ? summary.executed : summary.remoteCacheHits;
  return actions > 0 ? (row.reported.daemonCpu * 1000) / actions : undefined;
}

export async function runBazelBench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  print('\n## Bazel builds');
  if (!findBazel()) {
    print('skipped: `bazel` is not on PATH (install Debian\'s bazel-bootstrap)');
    return;
  }
  const shape = benchWorkspace(settings.bazel);
  const s = settings.bazel;
  print(
    `workspace: ${shape.genrules} independent genrules, ${mb(shape.outputBytes)} of outputs ` +
      `(${s.small} x ${s.smallKiB} KiB, ${s.text} x ${s.textKiB} KiB, ${s.medium} x ${s.mediumMiB} MiB, ${s.large} x ${s.largeMiB} MiB)`,
  );
  if (s.baselineRoot !== undefined) print(`baseline daemon: ${s.baselineRoot} (alternating with this checkout's, ${s.rounds} round(s))`);

  const ws = await BazelWorkspace.create({ files: shape.files, withStubs: false });
  const scenarios = cacheScenarios({ settings, scratchDir: ws.baseDir });
  const rows: Row[] = [];
  const memory: Memory[] = [];
  const profiles: { title: string; lines: string[] }[] = [];
  try {
    const build = async (flags: readonly string[], pid: number | undefined): Promise<Timed> => {
      await ws.run('clean');
      const bazelPid = await ws.serverPid();
      const cpu = () => Promise.all([bazelPid ? processCpuSeconds(bazelPid) : 0, pid ? processCpuSeconds(pid) : 0]);
      const before = await cpu();
      const run = await ws.run('build', [...flags, '//...']);
      const after = await cpu();
      return { run, bazelCpu: after[0] - before[0], daemonCpu: after[1] - before[1] };
    };
    const measure = async (scenario: string, phase: string, flags: readonly string[], pid: number | undefined, repeats: number) => {
      const runs: Timed[] = [];
      for (let i = 0; i < repeats; i++) runs.push(await build(flags, pid));
      const middle = median(runs.map((r) => r.run.elapsedMs));
      const reported = runs.find((r) => r.run.elapsedMs === middle) ?? runs[Math.floor(runs.length / 2)]!;
      const row: Row = { scenario, phase, runs, reported };
      const perAction = daemonMsPerAction(row);
      print(
        `  ${scenario}, ${phase}: ${runs.map((r) => seconds(r.run.elapsedMs)).join(', ')}` +
          `${perAction === undefined ? '' : `  daemon ${perAction.toFixed(2)} ms/action`}  [${reported.run.summary?.line ?? 'no summary'}]`,
      );
      rows.push(row);
    };
    const finish = async (scenario: CacheScenario, phase: Phase, cache: RunningCache) => {
      await cache.stop();
      if (cache.profileDir === undefined) return;
      for (const file of (await readdir(cache.profileDir)).filter((f) => f.endsWith('.cpuprofile'))) {
        const summary = summarizeProfile(await readProfile(join(cache.profileDir, file)));
        profiles.push({ title: `${scenario.name}, ${phase} (${join(cache.profileDir, file)})`, lines: formatSummary(summary, 12) });
      }
    };

    // Starts the server and fills the analysis cache so the first timed row is not charged for it.
    const warmup = await build([], undefined);
    print(`  warm-up build (Bazel server start, analysis; not in the table): ${seconds(warmup.run.elapsedMs)}`);
    await warmUpBazel(ws.baseDir, settings, (flags) => build(flags, undefined), print);

    for (const scenario of scenarios) {
      const cold = await scenario.open('cold');
      await measure(scenario.name, 'cold', cold.flags, cold.pid, 1);
      await finish(scenario, 'cold', cold);
      if (!scenario.hasWarm) continue;
      const warm = await scenario.open('warm');
      const idle = warm.idleRss;
      await measure(scenario.name, 'warm', warm.flags, warm.pid, s.warmRepeats);
      const peak = warm.pid === undefined ? undefined : await processMemory(warm.pid);
      for (const variant of scenario.warmVariants) {
        await measure(scenario.name, `warm, ${variant.label}`, variant.flags, warm.pid, s.warmRepeats);
      }
      if (idle !== undefined && peak !== undefined) memory.push({ scenario: scenario.name, idleRss: idle, warmPeak: peak.hwm });
      await finish(scenario, 'warm', warm);
    }
  } finally {
    for (const scenario of scenarios) await scenario.dispose().catch(() => {});
    await ws.cleanup();
  }

  printTables(rows, memory, settings, print);
  for (const p of profiles) {
    print(`\n### daemon CPU profile: ${p.title}`);
    for (const line of p.lines) print(line);
  }
}

/**
 * A developer's Bazel server has run many builds; a fresh one is still
 * compiling its own code. In a JFR recording of the warm-up build and two
 * rounds of gRPC cold + warm builds (56 s), the JVM's JIT spent 32 s
 * compiling, and Bazel's CPU for one gRPC cold build went 10.3, 6.5, 4.8,
 * 3.8 s over four rounds (no cache: 4.3, 3.0 s). So before the table Bazel
 * builds `warmups` times with no cache, then `warmups` rounds of a cold and a
 * warm build through a throwaway daemon of each protocol: every row then
 * meets a JIT that has compiled its paths alike. None of these is in the table.
 */
async function warmUpBazel(
  scratchDir: string,
  settings: BenchSettings,
  build: (flags: readonly string[]) => Promise<Timed>,
  print: (line: string) => void,
): Promise<void> {
  const rounds = settings.bazel.warmups;
  if (rounds === 0) return;
  const noCache: string[] = [];
  for (let i = 0; i < rounds; i++) noCache.push(seconds((await build([])).run.elapsedMs));
  print(`  warm-up, no cache (not in the table): ${noCache.join(', ')}`);
  // Throwaway daemons for Bazel's sake: no profiles, no daemon warm-up.
  const quiet = { ...settings, bazel: { ...settings.bazel, cpuProfileDir: undefined, daemonWarmups: 0 } };
  const ctx = { settings: quiet, scratchDir };
  for (const [name, make] of [
    ['warm-up gRPC', grpcScenario],
    ['warm-up HTTP', httpScenario],
  ] as const) {
    const times: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const scenario = make(ctx, name);
      try {
        for (const phase of ['cold', 'warm'] as const) {
          const cache = await scenario.open(phase);
          try {
            times.push(`${phase} ${seconds((await build(cache.flags)).run.elapsedMs)}`);
          } finally {
            await cache.stop();
          }
        }
      } finally {
        await scenario.dispose();
      }
    }
    print(`  ${name} (not in the table): ${times.join(', ')}`);
  }
}

function printTables(rows: Row[], memory: Memory[], settings: BenchSettings, print: (line: string) => void): void {
  const noCache = rows.find((r) => r.scenario === 'no cache' && r.phase === 'cold');
  const diskWarm = rows.find((r) => r.scenario === '--disk_cache' && r.phase === 'warm');
  const ratio = (row: Row): string => {
    const base = row.phase === 'cold' ? noCache : row.phase.startsWith('warm') ? diskWarm : undefined;
    if (base === undefined || base === row) return '';
    return `${(medianMs(row) / medianMs(base)).toFixed(2)}x ${row.phase === 'cold' ? 'no cache' : 'disk warm'}`;
  };
  print('');
  print(
    table(
      ['scenario', 'build', 'wall time', 'runs', 'ratio', 'processes', 'hits', 'executed', 'Bazel CPU', 'daemon CPU', 'daemon ms/action'],
      rows.map((row) => {
        const summary = row.reported.run.summary;
        const perAction = daemonMsPerAction(row);
        return [
          row.scenario,
          row.phase,
          seconds(medianMs(row)),
          String(row.runs.length),
          ratio(row),
          String(summary?.total ?? '?'),
          String(summary?.remoteCacheHits ?? '?'),
          String(summary?.executed ?? '?'),
          `${row.reported.bazelCpu.toFixed(2)} s`,
          row.reported.daemonCpu === 0 ? '' : `${row.reported.daemonCpu.toFixed(2)} s`,
          perAction === undefined ? '' : perAction.toFixed(2),
        ];
      }),
    ),
  );
  print(
    `(wall time: median of ${settings.bazel.warmRepeats} for warm rows; CPU columns: the median run; Bazel CPU is its ` +
      'server JVM only, not the genrules it spawned; daemon ms/action: per action executed (cold), per cache hit (warm))',
  );
  print(
    `aims: cold <= ${AIM_COLD_VS_NO_CACHE}x no cache; warm <= ${AIM_WARM_GRPC_VS_DISK}x --disk_cache over gRPC, ` +
      `<= ${AIM_WARM_HTTP_VS_DISK}x over HTTP; daemon <= ${AIM_COLD_MS_PER_ACTION} ms per cold action, <= ${AIM_WARM_MS_PER_HIT} ms per warm hit`,
  );
  if (memory.length > 0) {
    print('');
    print(
      table(
        ['daemon', 'RSS idle (warm daemon, before its builds)', 'RSS peak (warm phase)'],
        memory.map((m) => [m.scenario, mb(m.idleRss), mb(m.warmPeak)]),
      ),
    );
    print(`aims: idle RSS <= ${mb(AIM_IDLE_RSS)}, peak during the warm builds <= ${mb(AIM_WARM_PEAK_RSS)}`);
  }
  const notAllHits = rows.filter((r) => r.phase.startsWith('warm') && r.runs.some((t) => (t.run.summary?.executed ?? 1) !== 0));
  for (const row of notAllHits) print(`WARNING: ${row.scenario}, ${row.phase}: some actions were executed, not cache hits`);
}
