// The Bazel section: one generated workspace built with no cache, with Bazel's
// own --disk_cache (cold, warm) and through `ncache serve` (cold, warm, warm
// with --remote_download_minimal). Warm means `bazel clean` then build again:
// every action should come from the cache. Wall time is measured around the
// `bazel build` command only; the Bazel server stays up between builds, as it
// does for a developer.
import { join } from 'node:path';
import { BazelWorkspace, findBazel, type BazelRun } from '../test/helpers/bazel.js';
import { DaemonFixture } from '../test/helpers/daemon-process.js';
import { benchWorkspace } from './bench-workspace.js';
import type { BenchSettings } from './env.js';
import { median, mb, seconds, table } from './format.js';
import { processCpuSeconds, processMemory } from './proc-usage.js';

interface Timed {
  run: BazelRun;
  /** CPU seconds used during the build by the Bazel server and by the daemon. */
  bazelCpu: number;
  daemonCpu: number;
}

interface Row {
  scenario: string;
  runs: Timed[];
  /** The run whose time is reported (the median one). */
  reported: Timed;
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
    `workspace: ${shape.genrules} genrules, ${mb(shape.outputBytes)} of outputs ` +
      `(${s.small} x ${s.smallKiB} KiB, ${s.medium} x ${s.mediumMiB} MiB, ${s.large} x ${s.largeMiB} MiB, 2 fan-in rules)`,
  );

  const ws = await BazelWorkspace.create({ files: shape.files, withStubs: false });
  const daemons = await DaemonFixture.create();
  try {
    const daemon = await daemons.start();
    const diskCache = join(ws.baseDir, 'disk-cache');
    const remote = [`--remote_cache=${daemon.url}`];
    const build = async (flags: string[]): Promise<Timed> => {
      await ws.run('clean');
      const bazelPid = await ws.serverPid();
      const cpuBefore = await Promise.all([bazelPid ? processCpuSeconds(bazelPid) : 0, processCpuSeconds(daemon.pid)]);
      const run = await ws.run('build', [...flags, '//...']);
      const cpuAfter = await Promise.all([bazelPid ? processCpuSeconds(bazelPid) : 0, processCpuSeconds(daemon.pid)]);
      return { run, bazelCpu: cpuAfter[0] - cpuBefore[0], daemonCpu: cpuAfter[1] - cpuBefore[1] };
    };
    const measure = async (scenario: string, flags: string[], repeats = 1): Promise<Row> => {
      const runs: Timed[] = [];
      for (let i = 0; i < repeats; i++) runs.push(await build(flags));
      const middle = median(runs.map((r) => r.run.elapsedMs));
      const reported = runs.find((r) => r.run.elapsedMs === middle) ?? runs[Math.floor(runs.length / 2)]!;
      print(`  ${scenario}: ${runs.map((r) => seconds(r.run.elapsedMs)).join(', ')}  [${reported.run.summary?.line ?? 'no summary'}]`);
      return { scenario, runs, reported };
    };

    // Starts the server and fills the analysis cache so the first timed row is not charged for it.
    const warmup = await build([]);
    print(`  warm-up build (Bazel server start, analysis; not in the table): ${seconds(warmup.run.elapsedMs)}`);

    const rows: Row[] = [];
    rows.push(await measure('no cache', []));
    rows.push(await measure('--disk_cache cold', [`--disk_cache=${diskCache}`]));
    const diskWarm = await measure('--disk_cache warm', [`--disk_cache=${diskCache}`], s.warmRepeats);
    rows.push(diskWarm);
    rows.push(await measure('ncache cold', remote));
    const ncacheWarm = await measure('ncache warm', remote, s.warmRepeats);
    rows.push(ncacheWarm);
    rows.push(await measure('ncache warm, --remote_download_minimal', [...remote, '--remote_download_minimal'], s.warmRepeats));
    const memory = await processMemory(daemon.pid);

    print('');
    print(
      table(
        ['scenario', 'wall time', 'runs', 'processes', 'cache hits', 'executed', 'Bazel CPU', 'daemon CPU'],
        rows.map((row) => {
          const summary = row.reported.run.summary;
          return [
            row.scenario,
            seconds(median(row.runs.map((r) => r.run.elapsedMs))),
            String(row.runs.length),
            String(summary?.total ?? '?'),
            String(summary?.remoteCacheHits ?? '?'),
            String(summary?.executed ?? '?'),
            `${row.reported.bazelCpu.toFixed(2)} s`,
            `${row.reported.daemonCpu.toFixed(2)} s`,
          ];
        }),
      ),
    );
    print('(CPU columns: the reported run; Bazel CPU is its server JVM only, not the genrule processes it spawned)');
    const ratio = median(ncacheWarm.runs.map((r) => r.run.elapsedMs)) / median(diskWarm.runs.map((r) => r.run.elapsedMs));
    print(`\nwarm ncache / warm --disk_cache: ${ratio.toFixed(2)}x (median of ${s.warmRepeats})`);
    print(`daemon memory after the Bazel builds: RSS ${mb(memory.rss)}, peak ${mb(memory.hwm)}`);
    const notAllHits = rows.filter((r) => r.scenario.includes('warm') && r.runs.some((t) => (t.run.summary?.executed ?? 1) !== 0));
    for (const row of notAllHits) print(`WARNING: ${row.scenario}: some actions were executed, not cache hits`);
    await daemon.stop();
  } finally {
    await ws.cleanup();
    await daemons.cleanup();
  }
}
