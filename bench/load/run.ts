// The load run: `ncache serve` with the default filesystem config (port 0) as
// a child process, N concurrent clients spread over load-generator processes
// of their own (so neither side shares the other's event loop), the daemon's
// RSS sampled from /proc throughout. Used by `npm run bench` and the load tests.
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfigText } from '../../src/config/defaults.js';
import { DaemonProcess, repoRoot } from '../../test/helpers/daemon-process.js';
import { processCpuSeconds, processMemory } from '../proc-usage.js';
import { RPC_KINDS, type RpcKind, byKind } from './workload.js';
import type { FromWorker, ToWorker, WorkerResult, WorkerTask } from './worker.js';

export interface LoadOptions {
  clients: number;
  seconds: number;
  /** Load-generator processes; default 2. */
  workers?: number;
  /** Seeds every client's choices; default 11. */
  seed?: number;
}

export interface KindStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadReport {
  clients: number;
  seconds: number;
  workers: number;
  cores: number;
  perKind: Record<RpcKind, KindStats>;
  calls: number;
  callsPerSecond: number;
  mbWrittenPerSecond: number;
  mbReadPerSecond: number;
  errorCount: number;
  errors: string[];
  readChecks: number;
  readMismatches: number;
  daemonRssMaxBytes: number;
  daemonRssIdleBytes: number;
  daemonCpuSeconds: number;
  clientCpuSeconds: number;
  loadAverage: { start: number; end: number };
}

/** The compiled worker: tests run from source, but a forked child needs plain JavaScript. */
function workerScript(): string {
  const path = join(repoRoot(), 'dist', 'bench', 'load', 'worker.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`);
  return path;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A forked worker and its messages, in order. */
class Worker {
  private readonly child: ChildProcess;
  private readonly inbox: FromWorker[] = [];
  private waiting: (() => void) | undefined;
  readonly exited: Promise<void>;

  constructor(script: string) {
    this.child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromWorker) => {
      this.inbox.push(m);
      this.waiting?.();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.exited.then(() => this.waiting?.());
  }

  send(msg: ToWorker): void {
    this.child.send(msg);
  }

  /** The next message; fails if the worker exits without one. */
  async next(): Promise<FromWorker> {
    let exited = false;
    this.exited.then(() => (exited = true));
    for (;;) {
      const m = this.inbox.shift();
      if (m !== undefined) {
        if (m.type === 'failed') throw new Error(`load worker failed: ${m.message}`);
        return m;
      }
      if (exited || this.child.exitCode !== null) throw new Error(`load worker exited (code ${this.child.exitCode}) without a result`);
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Samples `pid`'s RSS every 250 ms until stopped; returns the largest value seen. */
function sampleRss(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let chain = Promise.resolve();
  const timer = setInterval(() => {
    chain = chain.then(async () => {
      peak = Math.max(peak, (await processMemory(pid)).rss);
    });
  }, 250);
  return {
    async stop() {
      clearInterval(timer);
      await chain;
      return Math.max(peak, (await processMemory(pid)).rss);
    },
  };
}

/** `ncache serve` with the default config as `ncache init` writes it, on a free port, everything under `dir`. */
async function startDefaultDaemon(dir: string): Promise<DaemonProcess> {
  const configPath = join(dir, 'config.json5');
  await writeFile(configPath, defaultConfigText().replace('127.0.0.1:50051', '127.0.0.1:0'));
  await mkdir(join(dir, 'cache'), { recursive: true });
  return DaemonProcess.start({ configPath, env: { NCACHE_CACHE_DIR: join(dir, 'cache'), NCACHE_STATE_DIR: join(dir, 'state') } });
}

/** Hands each worker every n-th client and waits until all of them are connected. */
async function assignClients(workers: Worker[], opts: LoadOptions, address: string): Promise<void> {
  workers.forEach((worker, w) => {
    const clientIds = Array.from({ length: opts.clients }, (_, i) => i).filter((i) => i % workers.length === w);
    const task: WorkerTask = { address, clientIds, seed: opts.seed ?? 11, durationMs: opts.seconds * 1000 };
    worker.send({ type: 'task', task });
  });
  for (const worker of workers) await worker.next(); // 'ready'
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const workerCount = Math.max(1, Math.min(opts.workers ?? 2, opts.clients));
  const script = workerScript();
  const dir = await mkdtemp(join(tmpdir(), 'ncache-load-'));
  const workers: Worker[] = [];
  let daemon: DaemonProcess | undefined;
  try {
    daemon = await startDefaultDaemon(dir);
    const idleRss = (await processMemory(daemon.pid)).rss;
    for (let w = 0; w < workerCount; w++) workers.push(new Worker(script));
    await assignClients(workers, opts, daemon.address);

    const loadStart = loadavg()[0]!;
    const cpuStart = await processCpuSeconds(daemon.pid);
    const rss = sampleRss(daemon.pid);
    const started = performance.now();
    for (const worker of workers) worker.send({ type: 'go' });
    const results: WorkerResult[] = [];
    for (const worker of workers) {
      const m = await worker.next();
      if (m.type !== 'result') throw new Error(`load worker sent ${m.type} instead of its result`);
      results.push(m.result);
    }
    const elapsed = (performance.now() - started) / 1000;
    const rssMax = await rss.stop();
    const daemonCpu = (await processCpuSeconds(daemon.pid)) - cpuStart;
    return summarize(opts, workerCount, elapsed, results, {
      rssMax,
      idleRss,
      daemonCpu,
      loadAverage: { start: loadStart, end: loadavg()[0]! },
    });
  } finally {
    for (const worker of workers) worker.kill();
    await Promise.all(workers.map((w) => w.exited));
    await daemon?.stop({ timeoutMs: 30_000 });
    await rm(dir, { recursive: true, force: true });
  }
}

function summarize(
  opts: LoadOptions,
  workers: number,
  elapsed: number,
  results: WorkerResult[],
  daemon: { rssMax: number; idleRss: number; daemonCpu: number; loadAverage: { start: number; end: number } },
): LoadReport {
  const perKind = byKind((kind): KindStats => {
    const all = results.flatMap((r) => r.latenciesMs[kind]).sort((a, b) => a - b);
    return { count: all.length, p50Ms: percentile(all, 50), p99Ms: percentile(all, 99), maxMs: all[all.length - 1] ?? 0 };
  });
  const calls = RPC_KINDS.reduce((n, kind) => n + perKind[kind].count, 0);
  const sum = (f: (r: WorkerResult) => number) => results.reduce((n, r) => n + f(r), 0);
  return {
    clients: opts.clients,
    seconds: opts.seconds,
    workers,
    cores: cpus().length,
    perKind,
    calls,
    callsPerSecond: calls / elapsed,
    mbWrittenPerSecond: sum((r) => r.bytesWritten) / 1e6 / elapsed,
    mbReadPerSecond: sum((r) => r.bytesRead) / 1e6 / elapsed,
    errorCount: sum((r) => r.errorCount),
    errors: results.flatMap((r) => r.errors).slice(0, 20),
    readChecks: sum((r) => r.readChecks),
    readMismatches: sum((r) => r.readMismatches),
    daemonRssMaxBytes: daemon.rssMax,
    daemonRssIdleBytes: daemon.idleRss,
    daemonCpuSeconds: daemon.daemonCpu,
    clientCpuSeconds: sum((r) => r.cpuSeconds),
    loadAverage: daemon.loadAverage,
  };
}

/** The report as lines of text (the bench prints them; the tests log them for docs/reliability.md). */
export function formatLoadReport(r: LoadReport): string[] {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
  const lines = [
    `${r.clients} clients x ${r.seconds} s over ${r.workers} load processes, ${r.cores} cores; load average ${r.loadAverage.start.toFixed(2)} -> ${r.loadAverage.end.toFixed(2)}`,
    `calls: ${r.calls} (${r.callsPerSecond.toFixed(0)}/s), written ${r.mbWrittenPerSecond.toFixed(1)} MB/s, read ${r.mbReadPerSecond.toFixed(1)} MB/s`,
    `errors: ${r.errorCount}, reads checked: ${r.readChecks}, wrong: ${r.readMismatches}`,
    `daemon RSS: idle ${mb(r.daemonRssIdleBytes)}, max ${mb(r.daemonRssMaxBytes)}; CPU: daemon ${r.daemonCpuSeconds.toFixed(1)} s (${((100 * r.daemonCpuSeconds) / r.seconds).toFixed(0)}% of a core), clients ${r.clientCpuSeconds.toFixed(1)} s`,
    // Less dependent on what else runs on the machine than calls per second.
    `calls per daemon CPU second: ${(r.calls / Math.max(r.daemonCpuSeconds, 0.001)).toFixed(0)}`,
    '| RPC | calls | p50 ms | p99 ms | max ms |',
    '|---|---:|---:|---:|---:|',
    ...RPC_KINDS.map((k) => {
      const s = r.perKind[k];
      return `| ${k} | ${s.count} | ${s.p50Ms.toFixed(1)} | ${s.p99Ms.toFixed(1)} | ${s.maxMs.toFixed(1)} |`;
    }),
  ];
  for (const e of r.errors) lines.push(`error: ${e}`);
  return lines;
}
