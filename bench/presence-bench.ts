// The presence section: what the rule "existence answers trust only the local
// tier and S3 itself" (docs/reliability.md, "Presence") costs in S3 requests,
// and what completeness_checking in front of the AC costs per hit. The seed
// config (memory tiers over S3, only its port set to 0) through `ncache serve`
// child processes, each laptop its own state dir, s3rver behind the counting
// proxy, the benchmark workspace built by real Bazel.
//
// 1. S3 requests per build: A cold; A warm after `bazel clean`; A restarted
//    (memory tiers empty, catalog full) warm after `bazel clean`; B fresh;
//    B warm after `bazel clean`.
// 2. The AC with and without completeness_checking (init --aws's shape):
//    a fresh laptop's build from S3, then the same laptop warm, with S3
//    requests per hit and GetActionResult latency from `ncache stats`.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import JSON5 from 'json5';
import { BazelWorkspace, type BazelRun, findBazel } from '../test/helpers/bazel.js';
import { DaemonProcess, repoRoot } from '../test/helpers/daemon-process.js';
import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { s3DaemonEnv } from '../test/helpers/s3-daemon.js';
import { startS3rver } from '../test/helpers/s3rver.js';
import { benchWorkspace } from './bench-workspace.js';
import type { BenchSettings } from './env.js';
import { mb, seconds, table } from './format.js';

const SEED = fileURLToPath(new URL('../../test/fixtures/configs/nativelink-s3-example.json5', import.meta.url));
const OPS = ['HeadObject', 'GetObject', 'PutObject', 'CreateMultipartUpload', 'UploadPart'] as const;

interface SeedConfig {
  stores: { name: string; [kind: string]: unknown }[];
  servers: { listener: { http: { socket_address: string } } }[];
}

/** The seed config on port 0; with `checkedAc`, its AC wrapped in completeness_checking against the CAS (what init --aws writes). */
async function seedConfig(dir: string, checkedAc: boolean): Promise<string> {
  const config = JSON5.parse<SeedConfig>(await readFile(SEED, 'utf8'));
  for (const server of config.servers) server.listener.http.socket_address = '0.0.0.0:0';
  if (checkedAc) {
    const [cas, ac] = config.stores;
    if (cas === undefined || ac === undefined) throw new Error(`${SEED}: expected the CAS and the AC store`);
    const { name, ...spec } = ac;
    config.stores[1] = { name, completeness_checking: { backend: spec, cas_store: { ref_store: { name: cas.name } } } };
  }
  const path = join(dir, checkedAc ? 'seed-checked-ac.json' : 'seed.json');
  await writeFile(path, JSON.stringify(config, null, 2));
  return path;
}

export async function runPresenceBench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  print('\n## Presence: S3 requests of existence checks, and completeness checking (seed config, s3rver on this machine)');
  if (!findBazel()) {
    print('skipped: `bazel` is not on PATH (install Debian\'s bazel-bootstrap)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'ncache-bench-presence-'));
  const seed = JSON5.parse<SeedConfig>(await readFile(SEED, 'utf8'));
  const bucket = JSON.stringify(seed).match(/"bucket":"([^"]+)"/)?.[1] ?? 'ncache-bench';
  const s3 = await startS3rver({ buckets: [bucket] });
  const proxy = await FaultProxy.start(s3.endpoint);
  const shape = benchWorkspace(settings.bazel);
  const ws = await BazelWorkspace.create({ files: shape.files, withStubs: false });
  const daemons: DaemonProcess[] = [];
  print(`workspace: ${shape.genrules} genrules, ${mb(shape.outputBytes)} of outputs (the seed's memory tiers hold 100 MB each)`);

  const serve = async (laptop: string, configPath: string): Promise<DaemonProcess> => {
    const stateDir = join(dir, laptop);
    await mkdir(stateDir, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...s3DaemonEnv(stateDir), AWS_ENDPOINT_URL_S3: proxy.endpoint, NCACHE_LOG_LEVEL: 'warn' };
    delete env.AWS_REGION;
    const daemon = await DaemonProcess.start({ configPath, env });
    daemons.push(daemon);
    return daemon;
  };
  const build = async (daemon: DaemonProcess): Promise<{ run: BazelRun; counts: ReturnType<FaultProxy['counts']> }> => {
    await ws.run('clean');
    proxy.resetCounts();
    const port = /:(\d+)$/.exec(daemon.address)![1]!;
    const run = await ws.run('build', [`--remote_cache=grpc://127.0.0.1:${port}`, '--remote_instance_name=main', '//...']);
    return { run, counts: proxy.counts() };
  };
  const cells = (r: { run: BazelRun; counts: ReturnType<FaultProxy['counts']> }) => {
    const total = Object.values(r.counts).reduce((sum, n) => sum + (n ?? 0), 0);
    const hits = r.run.summary?.remoteCacheHits ?? 0;
    return {
      total,
      row: [
        seconds(r.run.elapsedMs),
        r.run.summary ? `${hits}/${r.run.summary.total}` : '-',
        ...OPS.map((op) => String(r.counts[op] ?? 0)),
        String(total),
      ],
    };
  };

  try {
    const plain = await seedConfig(dir, false);
    const rows: string[][] = [];
    let a = await serve('a', plain);
    rows.push(['A cold', ...cells(await build(a)).row]);
    rows.push(['A warm (bazel clean)', ...cells(await build(a)).row]);
    await a.stop({ timeoutMs: 60_000 });
    a = await serve('a', plain);
    rows.push(['A restarted, warm (memory tiers empty, catalog full)', ...cells(await build(a)).row]);
    await a.stop({ timeoutMs: 60_000 });
    const b = await serve('b', plain);
    rows.push(['B fresh', ...cells(await build(b)).row]);
    rows.push(['B warm (bazel clean)', ...cells(await build(b)).row]);
    await b.stop({ timeoutMs: 60_000 });
    print('S3 requests per Bazel build (ncache serve on the seed config, counted by a proxy):');
    print(table(['build', 'time', 'hits', ...OPS.map((op) => op.replace('MultipartUpload', 'MPU')), 'total'], rows));

    print('');
    print('The AC with and without completeness_checking: a fresh laptop builds from S3, then again with its tiers full:');
    const checkRows: string[][] = [];
    for (const checked of [false, true]) {
      const laptop = await serve(checked ? 'checked' : 'unchecked', await seedConfig(dir, checked));
      for (const when of ['fresh, from S3', 'warm (bazel clean)']) {
        const before = await acLatency(join(dir, checked ? 'checked' : 'unchecked'));
        const r = await build(laptop);
        const after = await acLatency(join(dir, checked ? 'checked' : 'unchecked'));
        const { total, row } = cells(r);
        const hits = r.run.summary?.remoteCacheHits ?? 0;
        const calls = after.count - before.count;
        checkRows.push([
          `${checked ? 'completeness_checking > ' : ''}fast_slow, ${when}`,
          ...row,
          hits > 0 ? (total / hits).toFixed(1) : '-',
          String(calls),
          after.mean === null ? '-' : `${((after.mean * after.count - (before.mean ?? 0) * before.count) / Math.max(1, calls)).toFixed(2)} ms`,
        ]);
      }
      await laptop.stop({ timeoutMs: 60_000 });
    }
    print(
      table(
        ['AC', 'time', 'hits', ...OPS.map((op) => op.replace('MultipartUpload', 'MPU')), 'total', 'S3 req/hit', 'GetActionResult calls', 'mean latency'],
        checkRows,
      ),
    );
  } finally {
    for (const d of daemons) await d.stop({ timeoutMs: 60_000 });
    await ws.cleanup();
    await proxy.close();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** GetActionResult's call count and mean latency so far, from `ncache stats --json` against the daemon of `stateDir`. */
async function acLatency(stateDir: string): Promise<{ count: number; mean: number | null }> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(repoRoot(), 'bin', 'ncache.js'), 'stats', '--json'], {
    env: { ...process.env, NCACHE_STATE_DIR: stateDir },
  });
  const stats = JSON.parse(stdout) as {
    requests: { services: Record<string, { methods: Record<string, { latencyMs: { count: number; mean: number | null } }> }> } | null;
  };
  const method = stats.requests?.services.ac?.methods.GetActionResult;
  return { count: method?.latencyMs.count ?? 0, mean: method?.latencyMs.mean ?? null };
}
