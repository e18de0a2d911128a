// Benchmark sizes come from environment variables so a quick run and a full
// run use the same code. Every knob is printed with the results.

import type { LeafStoreKind } from '../test/helpers/daemon-process.js';

export interface BenchSettings {
  /** Which sections to run: "rpc", "load", "bazel", "replay", "exec", "remote", "s3", "presence", "dedup", "zstd", "prometheus", "upstream". */
  sections: Set<string>;
  /** Blob sizes (MiB) for the ByteStream write/read rows. */
  bytestreamSizesMiB: number[];
  /** Bytes per ByteStream WriteRequest. */
  writeChunkBytes: number;
  /** Repetitions of each timed RPC measurement; the median is reported. */
  repeats: number;
  findMissingDigests: number;
  batchCount: number;
  batchBlobBytes: number;
  /** Blob size (MiB) of the zstd section's ByteStream rows. */
  zstdBlobMiB: number;
  /** Size (MiB) of the single upload used to measure RSS growth. 0 skips it. */
  rssUploadMiB: number;
  /** The load section: concurrent clients and seconds (bench/load). */
  load: { clients: number; seconds: number };
  bazel: {
    small: number;
    smallKiB: number;
    text: number;
    textKiB: number;
    medium: number;
    mediumMiB: number;
    large: number;
    largeMiB: number;
    /** Timed repetitions of each warm build; the median is reported. */
    warmRepeats: number;
    /** Builds of each kind (no cache, gRPC, HTTP) before the table, so Bazel's JIT has compiled them. */
    warmups: number;
    /** Rounds of the ncache scenarios (alternating with the baseline's when there is one). */
    rounds: number;
    /** Another checkout (built) whose daemon runs as "baseline" beside this one, alternating: before/after in one run. */
    baselineRoot: string | undefined;
    /** Where the daemons write a .cpuprofile per phase (node --cpu-prof); undefined: not profiled. */
    cpuProfileDir: string | undefined;
    /** Extra node options for the replay's daemons (V8 flags to try, say), both checkouts alike. */
    daemonNodeArgs: string[];
    /**
     * Passes of the workspace's actions replayed against each daemon before it
     * is measured (replay and Bazel sections), so the numbers are a daemon's
     * that has run a while, not one whose JIT is still compiling.
     */
    daemonWarmups: number;
    /**
     * What holds the replay's CAS and AC: the product's filesystem stores, or
     * memory or noop (nothing kept, so no warm phase) to show what a cold
     * action costs with less storage work or none.
     */
    replayStore: LeafStoreKind;
  };
  /** The execution section (bench/exec-bench.ts); its workspace is the Bazel section's. */
  exec: {
    /** Rounds of local / remote / remote minimal cold builds, alternating. */
    rounds: number;
    /** Tiny actions executed one at a time from a grpc-js client, for the scheduling overhead. */
    probes: number;
    /** Files in the input tree whose materialization is timed. */
    treeFiles: number;
  };
  /** The remote section (bench/remote-bench.ts): rounds of warm builds direct / through a fresh laptop / through it again. */
  remote: { rounds: number };
  /** The dedup section's corpus (bench/corpus.ts). */
  dedup: {
    archiveMiB: number;
    versions: number;
    outputsMiB: number;
    /** Which stacks: "seed" (the seed config over s3rver, in process), "daemon" (the same behind ncache serve, over gRPC), "local" (dedup + lz4 + filesystem). */
    stacks: Set<string>;
  };
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}: expected a non-negative integer, got "${raw}"`);
  return value;
}

function listVar(env: NodeJS.ProcessEnv, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((part) => {
    const value = Number(part.trim());
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected comma-separated positive integers, got "${raw}"`);
    return value;
  });
}

function replayStore(env: NodeJS.ProcessEnv): LeafStoreKind {
  const kind = env.NCACHE_BENCH_REPLAY_STORE || 'filesystem';
  if (kind !== 'filesystem' && kind !== 'memory' && kind !== 'noop') {
    throw new Error(`NCACHE_BENCH_REPLAY_STORE: unknown store "${kind}" (use filesystem, memory, noop)`);
  }
  return kind;
}

function dedupStacks(env: NodeJS.ProcessEnv): Set<string> {
  const stacks = new Set((env.NCACHE_BENCH_DEDUP_STACKS ?? 'seed,daemon,local').split(',').map((s) => s.trim()).filter(Boolean));
  for (const stack of stacks) {
    if (stack !== 'seed' && stack !== 'daemon' && stack !== 'local') {
      throw new Error(`NCACHE_BENCH_DEDUP_STACKS: unknown stack "${stack}" (use seed, daemon, local)`);
    }
  }
  return stacks;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const sections = new Set((env.NCACHE_BENCH_SECTIONS ?? 'rpc,load,bazel,replay,exec,remote,s3,presence,dedup,zstd,prometheus,upstream').split(',').map((s) => s.trim()).filter(Boolean));
  for (const section of sections) {
    if (!['rpc', 'load', 'bazel', 'replay', 'exec', 'remote', 's3', 'presence', 'dedup', 'zstd', 'prometheus', 'upstream'].includes(section)) {
      throw new Error(`NCACHE_BENCH_SECTIONS: unknown section "${section}" (use rpc, load, bazel, replay, exec, remote, s3, presence, dedup, zstd, prometheus, upstream)`);
    }
  }
  return {
    sections,
    bytestreamSizesMiB: listVar(env, 'NCACHE_BENCH_BYTESTREAM_MIB', [1, 256]),
    writeChunkBytes: Math.max(1, intVar(env, 'NCACHE_BENCH_WRITE_CHUNK_KIB', 64)) * 1024,
    repeats: Math.max(1, intVar(env, 'NCACHE_BENCH_REPEATS', 5)),
    findMissingDigests: intVar(env, 'NCACHE_BENCH_FIND_MISSING_DIGESTS', 10_000),
    batchCount: intVar(env, 'NCACHE_BENCH_BATCH_COUNT', 1_000),
    batchBlobBytes: intVar(env, 'NCACHE_BENCH_BATCH_BLOB_BYTES', 4_096),
    rssUploadMiB: intVar(env, 'NCACHE_BENCH_RSS_UPLOAD_MIB', 1_024),
    zstdBlobMiB: Math.max(1, intVar(env, 'NCACHE_BENCH_ZSTD_MIB', 32)),
    load: {
      clients: Math.max(1, intVar(env, 'NCACHE_BENCH_LOAD_CLIENTS', 200)),
      seconds: Math.max(1, intVar(env, 'NCACHE_BENCH_LOAD_SECONDS', 60)),
    },
    bazel: {
      small: intVar(env, 'NCACHE_BENCH_BAZEL_SMALL', 250),
      smallKiB: intVar(env, 'NCACHE_BENCH_BAZEL_SMALL_KIB', 64),
      text: intVar(env, 'NCACHE_BENCH_BAZEL_TEXT', 50),
      textKiB: intVar(env, 'NCACHE_BENCH_BAZEL_TEXT_KIB', 256),
      medium: intVar(env, 'NCACHE_BENCH_BAZEL_MEDIUM', 40),
      mediumMiB: intVar(env, 'NCACHE_BENCH_BAZEL_MEDIUM_MIB', 1),
      large: intVar(env, 'NCACHE_BENCH_BAZEL_LARGE', 2),
      largeMiB: intVar(env, 'NCACHE_BENCH_BAZEL_LARGE_MIB', 25),
      warmRepeats: Math.max(1, intVar(env, 'NCACHE_BENCH_BAZEL_WARM_REPEATS', 3)),
      warmups: Math.max(0, intVar(env, 'NCACHE_BENCH_BAZEL_WARMUPS', 3)),
      rounds: Math.max(1, intVar(env, 'NCACHE_BENCH_BAZEL_ROUNDS', 1)),
      baselineRoot: env.NCACHE_BENCH_BASELINE_ROOT || undefined,
      cpuProfileDir: env.NCACHE_BENCH_CPU_PROF_DIR || undefined,
      daemonNodeArgs: (env.NCACHE_BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean),
      daemonWarmups: intVar(env, 'NCACHE_BENCH_DAEMON_WARMUPS', 3),
      replayStore: replayStore(env),
    },
    exec: {
      rounds: Math.max(1, intVar(env, 'NCACHE_BENCH_EXEC_ROUNDS', 2)),
      probes: Math.max(1, intVar(env, 'NCACHE_BENCH_EXEC_PROBES', 50)),
      treeFiles: Math.max(1, intVar(env, 'NCACHE_BENCH_EXEC_TREE_FILES', 10_000)),
    },
    remote: { rounds: Math.max(1, intVar(env, 'NCACHE_BENCH_REMOTE_ROUNDS', 2)) },
    dedup: {
      archiveMiB: Math.max(1, intVar(env, 'NCACHE_BENCH_DEDUP_ARCHIVE_MIB', 64)),
      versions: Math.max(1, intVar(env, 'NCACHE_BENCH_DEDUP_VERSIONS', 10)),
      outputsMiB: intVar(env, 'NCACHE_BENCH_DEDUP_OUTPUTS_MIB', 48),
      stacks: dedupStacks(env),
    },
  };
}

/** The variables above, for the help text printed at the start of a run. */
export const SETTINGS_HELP = [
  'NCACHE_BENCH_SECTIONS=rpc,load,bazel,replay,exec,remote,s3,presence,dedup,zstd,prometheus,upstream',
  'NCACHE_BENCH_LOAD_CLIENTS=200  NCACHE_BENCH_LOAD_SECONDS=60',
  'NCACHE_BENCH_BYTESTREAM_MIB=1,256  NCACHE_BENCH_WRITE_CHUNK_KIB=64 (Bazel sends 16)  NCACHE_BENCH_REPEATS=5',
  'NCACHE_BENCH_RSS_UPLOAD_MIB=1024  NCACHE_BENCH_ZSTD_MIB=32',
  'NCACHE_BENCH_FIND_MISSING_DIGESTS=10000  NCACHE_BENCH_BATCH_COUNT=1000  NCACHE_BENCH_BATCH_BLOB_BYTES=4096',
  'NCACHE_BENCH_BAZEL_{SMALL=250,SMALL_KIB=64,TEXT=50,TEXT_KIB=256,MEDIUM=40,MEDIUM_MIB=1,LARGE=2,LARGE_MIB=25,WARM_REPEATS=3,WARMUPS=3,ROUNDS=1}',
  'NCACHE_BENCH_BASELINE_ROOT=<another built checkout: its daemon runs beside this one, alternating>',
  'NCACHE_BENCH_CPU_PROF_DIR=<dir: daemons run with --cpu-prof, one profile per scenario and phase, summarized>',
  'NCACHE_BENCH_DAEMON_NODE_ARGS=<node options for the replay section\'s daemons, e.g. V8 flags to try>',
  'NCACHE_BENCH_DAEMON_WARMUPS=3 (passes of the workspace\'s actions replayed against each daemon before it is measured; 0: a fresh daemon)',
  'NCACHE_BENCH_REPLAY_STORE=filesystem (the replay\'s CAS and AC; memory or noop show what a cold action costs with less storage or none)',
  'NCACHE_BENCH_EXEC_{ROUNDS=2,PROBES=50,TREE_FILES=10000} (the exec section builds the Bazel section\'s workspace)',
  'NCACHE_BENCH_REMOTE_ROUNDS=2 (the remote section builds the Bazel section\'s workspace)',
  'NCACHE_BENCH_DEDUP_{ARCHIVE_MIB=64,VERSIONS=10,OUTPUTS_MIB=48,STACKS=seed,daemon,local}',
];
