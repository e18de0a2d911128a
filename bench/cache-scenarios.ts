// The caches the Bazel bench compares, one entry each in `cacheScenarios`:
// a scenario starts an empty cache, hands Bazel its flags for the cold phase
// (every action runs, outputs are stored), then for the warm phase (`bazel
// clean`, every action should hit). A daemon scenario restarts its daemon on
// the same stores between the phases, so each phase's daemon CPU, memory peak
// and CPU profile are its own. Before a phase's builds each daemon replays
// NCACHE_BENCH_DAEMON_WARMUPS passes of the workspace's actions over other
// blobs (action-replay.ts), so it is measured as a daemon that has run a
// while, not one whose JIT is still compiling; its idle RSS is taken before
// that and its peak counted from after it. Adding a cache to the table is one
// entry here.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonFixture, type DaemonProcess } from '../test/helpers/daemon-process.js';
import { warmUpDaemon, workspaceSizes } from './action-replay.js';
import type { BenchSettings } from './env.js';
import { processMemory, resetPeakMemory } from './proc-usage.js';

export type Phase = 'cold' | 'warm';

/** A cache ready for one phase's builds. */
export interface RunningCache {
  readonly flags: readonly string[];
  /** The daemon's pid (CPU time, memory); undefined for a cache inside Bazel. */
  readonly pid?: number;
  /** Where its .cpuprofile will be once it stops, when profiled. */
  readonly profileDir?: string;
  /** The daemon's RSS just after it started (before any warm-up), bytes. */
  readonly idleRss?: number;
  stop(): Promise<void>;
}

export interface WarmVariant {
  label: string;
  flags: readonly string[];
}

export interface CacheScenario {
  readonly name: string;
  /** False for "no cache": nothing to be warm from. */
  readonly hasWarm: boolean;
  /** Further warm rows with extra flags (e.g. --remote_download_minimal). */
  readonly warmVariants: readonly WarmVariant[];
  open(phase: Phase): Promise<RunningCache>;
  dispose(): Promise<void>;
}

export interface ScenarioContext {
  settings: BenchSettings;
  /** A directory for this run's caches (removed at the end). */
  scratchDir: string;
}

export function noCacheScenario(): CacheScenario {
  return {
    name: 'no cache',
    hasWarm: false,
    warmVariants: [],
    open: async () => ({ flags: [], stop: async () => {} }),
    dispose: async () => {},
  };
}

export function diskCacheScenario(ctx: ScenarioContext): CacheScenario {
  const dir = join(ctx.scratchDir, `disk-cache-${Math.random().toString(36).slice(2)}`);
  return {
    name: '--disk_cache',
    hasWarm: true,
    warmVariants: [],
    open: async () => {
      await mkdir(dir, { recursive: true });
      return { flags: [`--disk_cache=${dir}`], stop: async () => {} };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface DaemonScenarioOptions {
  name: string;
  /** The checkout whose daemon runs (default: this one). */
  root?: string;
  /** Bazel's flags for a daemon (default: --remote_cache=<its gRPC url>). */
  flags?: (daemon: DaemonProcess) => string[];
  warmVariants?: (daemon: DaemonProcess) => WarmVariant[];
  /** Builds the daemon's fixture (default: the test config, filesystem CAS and AC). */
  fixture?: () => Promise<DaemonFixture>;
}

/** `ncache serve` from `root`, on fresh stores; restarted between the phases on the same stores. */
export function daemonScenario(ctx: ScenarioContext, opts: DaemonScenarioOptions): CacheScenario {
  let fixture: DaemonFixture | undefined;
  let variants: WarmVariant[] = [];
  const profileRoot = ctx.settings.bazel.cpuProfileDir;
  const slug = opts.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
  // The warm phase's warm-up reads back what the cold phase's wrote.
  const warmupSeed = `${slug}-${Math.random().toString(36).slice(2, 8)}`;
  let opened = 0;
  return {
    name: opts.name,
    hasWarm: true,
    get warmVariants() {
      return variants;
    },
    open: async (phase) => {
      fixture ??= await (opts.fixture ?? (() => DaemonFixture.create()))();
      opened += 1;
      const profileDir = profileRoot === undefined ? undefined : join(profileRoot, `${slug}-${opened}-${phase}`);
      if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
      const daemon = await fixture.start({
        ...(opts.root === undefined ? {} : { root: opts.root }),
        ...(profileDir === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
      });
      variants = opts.warmVariants?.(daemon) ?? [];
      const flags = opts.flags?.(daemon) ?? [`--remote_cache=${daemon.url}`];
      const idle = await processMemory(daemon.pid);
      const { daemonWarmups } = ctx.settings.bazel;
      if (daemonWarmups > 0) {
        await warmUpDaemon(daemon.address, phase, warmupSeed, workspaceSizes(ctx.settings.bazel), daemonWarmups);
        await resetPeakMemory(daemon.pid);
      }
      return {
        flags,
        pid: daemon.pid,
        idleRss: idle.rss,
        ...(profileDir === undefined ? {} : { profileDir }),
        stop: async () => {
          const exit = await daemon.stop({ timeoutMs: 60_000 });
          if (exit.forced) throw new Error(`${opts.name}: the daemon did not stop within 60 s (killed): no profile`);
        },
      };
    },
    dispose: async () => {
      await fixture?.cleanup();
    },
  };
}

/** The gRPC daemon's rows: --remote_cache, and a warm build with --remote_download_minimal. */
export function grpcScenario(ctx: ScenarioContext, name: string, root?: string): CacheScenario {
  return daemonScenario(ctx, {
    name,
    ...(root === undefined ? {} : { root }),
    warmVariants: (daemon) => [
      { label: '--remote_download_minimal', flags: [`--remote_cache=${daemon.url}`, '--remote_download_minimal'] },
    ],
  });
}

/** The http:// URL serve printed for the daemon's http_cache listener. */
function httpCacheUrl(daemon: DaemonProcess): string {
  const url = daemon.urls.find((u) => u.startsWith('http://'));
  if (url === undefined) throw new Error(`ncache serve printed no http:// listener:\n${daemon.stdout()}`);
  return url;
}

/**
 * The daemon over Bazel's HTTP/1.1 cache protocol (an http_cache listener
 * beside the gRPC one, same stores): --remote_cache=http://..., and a warm
 * build with --remote_download_minimal.
 */
export function httpScenario(ctx: ScenarioContext, name: string): CacheScenario {
  return daemonScenario(ctx, {
    name,
    fixture: () => DaemonFixture.create({ httpCache: {} }),
    flags: (daemon) => [`--remote_cache=${httpCacheUrl(daemon)}`],
    warmVariants: (daemon) => [
      { label: '--remote_download_minimal', flags: [`--remote_cache=${httpCacheUrl(daemon)}`, '--remote_download_minimal'] },
    ],
  });
}

/**
 * The table's scenarios in the order they run: no cache, Bazel's disk cache,
 * then each round of the ncache daemons (with a baseline checkout, the two
 * alternate, the baseline first in even rounds: before and after in one run;
 * then HTTP).
 */
export function cacheScenarios(ctx: ScenarioContext): CacheScenario[] {
  const { rounds, baselineRoot } = ctx.settings.bazel;
  const list: CacheScenario[] = [noCacheScenario(), diskCacheScenario(ctx)];
  for (let round = 0; round < rounds; round++) {
    const pair = [grpcScenario(ctx, 'ncache gRPC')];
    // Who goes first alternates: the second of a pair starts while the disk still settles the first one's writes.
    if (baselineRoot !== undefined) pair[round % 2 === 0 ? 'unshift' : 'push'](grpcScenario(ctx, 'ncache gRPC (baseline)', baselineRoot));
    list.push(...pair);
    // The baseline checkout may predate the http_cache listener: only this checkout's.
    list.push(httpScenario(ctx, 'ncache HTTP'));
  }
  return list;
}
