// The `upstream` section (issue 13): a laptop daemon whose CAS and AC are
// fast_slow { fast: filesystem, slow: grpc } in front of a second daemon (the
// cluster), both `ncache serve` processes over loopback. After one cold build
// straight to the cluster fills it, each round times warm builds (`bazel clean`
// first) three ways, in one run: Bazel straight to the cluster, through a
// fresh laptop whose local tier is empty (every hit comes through the grpc
// store), and through that laptop again (hits from its filled local tier).
import { join } from 'node:path';
import { BazelWorkspace, type BazelRun, findBazel } from '../test/helpers/bazel.js';
import { loopbackServers } from '../test/helpers/config-servers.js';
import { DaemonFixture, testConfigText } from '../test/helpers/daemon-process.js';
import { benchWorkspace } from './bench-workspace.js';
import type { BenchSettings } from './env.js';
import { mb, median, seconds, table } from './format.js';

/** A laptop config: local filesystem tiers in front of the cluster's CAS and AC through grpc stores. */
function laptopConfigText(dataDir: string, clusterUrl: string): string {
  const tiers = (name: string, storeType: 'cas' | 'ac') => ({
    fast_slow: {
      fast: { filesystem: { content_path: join(dataDir, name, 'content'), temp_path: join(dataDir, name, 'tmp'), eviction_policy: { max_bytes: '20gb' } } },
      slow: { grpc: { store_type: storeType, endpoints: [{ address: clusterUrl }], retry: { max_retries: 3, delay: 0.1, jitter: 0.5 } } },
    },
  });
  const config = {
    stores: [
      { name: 'CAS', ...tiers('cas', 'cas') },
      { name: 'AC', ...tiers('ac', 'ac') },
    ],
    servers: loopbackServers(),
  };
  return JSON.stringify(config, null, 2);
}

export async function runUpstreamBench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  print('\n## Laptop in front of a cluster (grpc store), over loopback');
  if (!findBazel()) {
    print('skipped: `bazel` is not on PATH');
    return;
  }
  const shape = benchWorkspace(settings.bazel);
  print(`workspace: ${shape.genrules} genrules, ${mb(shape.outputBytes)} of outputs; ${settings.bazel.warmRepeats} round(s)`);
  const ws = await BazelWorkspace.create({ files: shape.files, withStubs: false });
  const cluster = await DaemonFixture.withLayout({
    prefix: 'ncache-bench-cluster-',
    configText: (dataDir) => testConfigText({ dataDir }),
    env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
    stopTimeoutMs: 10_000,
  });
  try {
    const clusterDaemon = await cluster.start();
    const build = async (url: string): Promise<BazelRun> => {
      await ws.run('clean');
      const run = await ws.run('build', [`--remote_cache=${url}`, '//...']);
      if (run.exitCode !== 0) throw new Error(`bazel build against ${url} failed:\n${run.stderr.slice(-2000)}`);
      return run;
    };
    const cold = await build(clusterDaemon.url);
    print(`  cold build straight to the cluster (fills it; not in the table): ${seconds(cold.elapsedMs)}  [${cold.summary?.line ?? 'no summary'}]`);
    const runs: Record<'direct' | 'laptopEmpty' | 'laptopWarm', BazelRun[]> = { direct: [], laptopEmpty: [], laptopWarm: [] };
    for (let round = 0; round < settings.bazel.warmRepeats; round++) {
      runs.direct.push(await build(clusterDaemon.url));
      const laptop = await DaemonFixture.withLayout({
        prefix: 'ncache-bench-laptop-',
        configText: (dataDir) => laptopConfigText(dataDir, clusterDaemon.url),
        env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
        stopTimeoutMs: 10_000,
      });
      try {
        const laptopDaemon = await laptop.start();
        runs.laptopEmpty.push(await build(laptopDaemon.url));
        runs.laptopWarm.push(await build(laptopDaemon.url));
      } finally {
        await laptop.cleanup();
      }
    }
    const row = (name: string, list: BazelRun[]) => [
      name,
      list.map((r) => seconds(r.elapsedMs)).join(', '),
      seconds(median(list.map((r) => r.elapsedMs))),
      list[list.length - 1]?.summary?.line ?? '?',
    ];
    print('');
    print(
      table(
        ['warm build (after bazel clean)', 'runs', 'median', 'last summary'],
        [
          row('straight to the cluster', runs.direct),
          row('laptop, empty local tier (via grpc store)', runs.laptopEmpty),
          row('laptop, filled local tier', runs.laptopWarm),
        ],
      ),
    );
  } finally {
    await ws.cleanup();
    await cluster.cleanup();
  }
}
