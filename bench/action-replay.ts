// The daemon's CPU per action without Bazel: a client process replays what
// Bazel 4.2.3 sends for each action of the bench workspace (bench-workspace.ts
// shape), and the daemon's CPU time (utime + stime from /proc, main thread and
// all threads) is read before and after. Cold, per action: GetActionResult
// (a miss), FindMissingBlobs of the Action, its Command and its output, a
// ByteStream Write of each (the output in 16 KiB messages), UpdateActionResult:
// Bazel 4.2.3 uploads the Action and Command protos beside the outputs (seen
// in the CAS after a `--remote_cache` build: Action about 350 bytes, Command
// about 4.7 KB for a genrule). Warm (a restarted daemon on the same stores):
// GetActionResult (a hit) and ByteStream Read of the output. Each phase runs
// 1 + NCACHE_BENCH_DAEMON_WARMUPS passes over different actions on one daemon:
// the first is a fresh daemon (V8 still compiling its hot paths: in six passes
// of one daemon here, 9.4 ms per cold action fell to about 4.3), the last is a
// daemon that has run a while, as a developer's does. The Bazel section warms
// its daemons up with the same passes (warmUpDaemon). Bazel's JVM and
// its genrules are not on the machine's two cores meanwhile, so the numbers
// move much less from run to run than the Bazel section's; with
// NCACHE_BENCH_BASELINE_ROOT the baseline's daemon alternates with this
// one's. Section "replay" of `npm run bench`; NCACHE_BENCH_CPU_PROF_DIR keeps
// a CPU profile of each daemon phase there (summarize them with
// bench/cpu-profile.ts; the profiler's cost shows in the CPU columns).
// NCACHE_BENCH_REPLAY_STORE=memory or noop swaps the filesystem CAS and AC
// for stores that keep the bytes in memory or nowhere: the cold phase then
// shows what the protocol alone costs, the floor under any store (there is
// no warm phase: a restarted daemon has nothing to read).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonFixture, type DaemonProcess } from '../test/helpers/daemon-process.js';
import type { BenchSettings } from './env.js';
import { median, table } from './format.js';
import { processMemory, statCpuSeconds } from './proc-usage.js';
import { ReapiClient } from './reapi-client.js';

/** Bazel's ByteStream chunk size. */
const CHUNK_BYTES = 16 * 1024;
/** Sizes of a genrule's Action and Command protos as Bazel 4.2.3 uploads them. */
const ACTION_BYTES = 348;
const COMMAND_BYTES = 4759;
/** Actions in flight at once (Bazel runs as many as --jobs and its upload/download pools allow). */
const CONCURRENCY = 8;

interface Action {
  actionDigest: { hash: string; sizeBytes: number };
  /** The Action and Command protos' stand-ins, uploaded as Bazel does. */
  actionBytes: Buffer;
  command: { hash: string; sizeBytes: number; bytes: Buffer };
  output: { hash: string; sizeBytes: number };
  size: number;
  index: number;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The output of action `index` in run `seed`: distinct bytes per action and per seed, cheap to make again. */
function outputBytes(seed: string, index: number, size: number): Buffer {
  const line = Buffer.from(`${seed} output ${index} `.padEnd(64, '.') + '\n');
  const data = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += line.length) line.copy(data, off, 0, Math.min(line.length, size - off));
  return data;
}

function actionsOf(seed: string, sizes: number[]): Action[] {
  return sizes.map((size, index) => {
    const data = outputBytes(seed, index, size);
    const action = Buffer.from(`${seed} action ${index} `.padEnd(ACTION_BYTES, '.'));
    const command = Buffer.from(`${seed} command ${index} `.padEnd(COMMAND_BYTES, '.'));
    return {
      index,
      size,
      actionDigest: { hash: sha256(action), sizeBytes: action.length },
      actionBytes: action,
      command: { hash: sha256(command), sizeBytes: command.length, bytes: command },
      output: { hash: sha256(data), sizeBytes: size },
    };
  });
}

async function forEachConcurrent<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function* chunksOf(data: Buffer): Generator<Buffer> {
  for (let off = 0; off < data.length; off += CHUNK_BYTES) yield data.subarray(off, Math.min(data.length, off + CHUNK_BYTES));
}

/** The client side (a child process): replays one phase and exits. */
async function runClient(address: string, phase: string, seed: string, sizes: number[]): Promise<void> {
  const client = new ReapiClient(address);
  const actions = actionsOf(seed, sizes);
  try {
    await forEachConcurrent(actions, CONCURRENCY, async (a) => {
      if (phase === 'cold') {
        await client.getActionResult(a.actionDigest).then(
          () => Promise.reject(new Error(`action ${a.index}: a hit in the cold phase`)),
          (err: { code?: number }) => (err.code === 5 ? undefined : Promise.reject(err)),
        );
        const missing = await client.findMissingBlobs([a.actionDigest, a.command, a.output]);
        if (missing.missingBlobDigests.length !== 3) throw new Error(`action ${a.index}: blobs not missing in the cold phase`);
        // Bazel starts the uploads of one action's missing blobs together.
        await Promise.all([
          client.write(a.actionDigest, [a.actionBytes], `replay-${seed}-${a.index}-a`),
          client.write(a.command, [a.command.bytes], `replay-${seed}-${a.index}-c`),
          client.write(a.output, chunksOf(outputBytes(seed, a.index, a.size)), `replay-${seed}-${a.index}`),
        ]);
        await client.updateActionResult(a.actionDigest, {
          outputFiles: [{ path: `bazel-out/k8-fastbuild/bin/out_${a.index}`, digest: a.output, isExecutable: false }],
          exitCode: 0,
        });
      } else {
        const result = await client.getActionResult(a.actionDigest);
        const digest = result.outputFiles[0]?.digest;
        if (!digest) throw new Error(`action ${a.index}: the action result names no output`);
        const got = await client.read(digest);
        if (got !== a.size) throw new Error(`action ${a.index}: read ${got} bytes, expected ${a.size}`);
      }
    });
  } finally {
    client.close();
  }
}

interface ThreadCpu {
  /** Main thread (the event loop), seconds. */
  main: number;
  /** Every other thread in user mode: V8's GC and compiler threads, mostly (Node 20 leaves its threads unnamed). */
  otherUser: number;
  /** Every other thread in the kernel: the thread pool's file system calls, mostly. */
  otherKernel: number;
  /** All threads, seconds. */
  all: number;
}

async function threadCpu(pid: number): Promise<ThreadCpu> {
  const cpu: ThreadCpu = { main: 0, otherUser: 0, otherKernel: 0, all: 0 };
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined) continue; // a thread that just exited
    const { user, kernel } = statCpuSeconds(stat);
    cpu.all += user + kernel;
    if (tid === String(pid)) {
      cpu.main += user + kernel;
    } else {
      cpu.otherUser += user;
      cpu.otherKernel += kernel;
    }
  }
  return cpu;
}

function cpuSpent(before: ThreadCpu, after: ThreadCpu): ThreadCpu {
  return {
    main: after.main - before.main,
    otherUser: after.otherUser - before.otherUser,
    otherKernel: after.otherKernel - before.otherKernel,
    all: after.all - before.all,
  };
}

function spawnClient(address: string, phase: string, seed: string, sizes: number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'client', address, phase, seed, sizes.join(',')], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`replay client (${phase}) exited ${code}: ${stderr}`))));
  });
}

/** CPU per action of one pass: ThreadCpu's fields, in milliseconds. */
type PassCpu = ThreadCpu;

export interface ReplayRow {
  daemon: string;
  /** A fresh daemon's first pass: its JIT compiles the hot paths meanwhile. */
  coldFirst: PassCpu;
  /** The same daemon's last pass over other actions: what a daemon that has run a while costs. */
  cold: PassCpu;
  /** Undefined for a store that keeps nothing across a restart (NCACHE_BENCH_REPLAY_STORE). */
  warmFirst: PassCpu | undefined;
  warm: PassCpu | undefined;
  warmPeakRss: number | undefined;
}

/** The output sizes of the Bazel section's workspace (bench-workspace.ts), one per action. */
export function workspaceSizes(s: BenchSettings['bazel']): number[] {
  return [
    ...Array<number>(s.small).fill(s.smallKiB * 1024),
    ...Array<number>(s.text).fill(s.textKiB * 1024),
    ...Array<number>(s.medium).fill(s.mediumMiB * 1024 * 1024),
    ...Array<number>(s.large).fill(s.largeMiB * 1024 * 1024),
  ];
}

/**
 * Replays `passes` passes of the workspace's actions against a daemon before
 * it is measured, each over its own blobs (seed `${seed}-w<n>`): "cold" writes
 * them, "warm" reads back what a cold warm-up with the same seed wrote.
 */
export async function warmUpDaemon(address: string, phase: 'cold' | 'warm', seed: string, sizes: number[], passes: number): Promise<void> {
  for (let n = 1; n <= passes; n++) await spawnClient(address, phase, `${seed}-w${n}`, sizes);
}

/** One daemon (from `root`) through a cold and a warm phase, 1 + settings.daemonWarmups passes each; CPU per action. */
async function replayOnce(
  name: string,
  root: string | undefined,
  sizes: number[],
  seed: string,
  settings: BenchSettings['bazel'],
): Promise<ReplayRow> {
  const fixture = await DaemonFixture.create({ leafStore: settings.replayStore });
  const perAction = (cpu: ThreadCpu): PassCpu => {
    const ms = (seconds: number) => (seconds * 1000) / sizes.length;
    return { main: ms(cpu.main), otherUser: ms(cpu.otherUser), otherKernel: ms(cpu.otherKernel), all: ms(cpu.all) };
  };
  const profileDir = settings.cpuProfileDir;
  try {
    const phase = async (which: 'cold' | 'warm'): Promise<{ first: PassCpu; last: PassCpu; daemon: DaemonProcess }> => {
      const dir = profileDir === undefined ? undefined : join(profileDir, `replay-${name.replace(/\W+/g, '-')}-${seed}-${which}`);
      const daemon = await fixture.start({
        ...(root === undefined ? {} : { root }),
        nodeArgs: [...settings.daemonNodeArgs, ...(dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`])],
      });
      const passes: PassCpu[] = [];
      // Each pass its own actions: the warm phase reads back what the cold pass of the same number wrote.
      for (let n = 0; n <= settings.daemonWarmups; n++) {
        const before = await threadCpu(daemon.pid);
        await spawnClient(daemon.address, which, `${seed}-p${n}`, sizes);
        passes.push(perAction(cpuSpent(before, await threadCpu(daemon.pid))));
      }
      return { first: passes[0]!, last: passes[passes.length - 1]!, daemon };
    };
    const cold = await phase('cold');
    await cold.daemon.stop();
    if (settings.replayStore !== 'filesystem') {
      return { daemon: name, coldFirst: cold.first, cold: cold.last, warmFirst: undefined, warm: undefined, warmPeakRss: undefined };
    }
    const warm = await phase('warm');
    const peak = await processMemory(warm.daemon.pid);
    await warm.daemon.stop();
    return { daemon: name, coldFirst: cold.first, cold: cold.last, warmFirst: warm.first, warm: warm.last, warmPeakRss: peak.hwm };
  } finally {
    await fixture.cleanup();
  }
}

export async function runReplayBench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  const s = settings.bazel;
  const sizes = workspaceSizes(s);
  print(`\n## Daemon CPU per action, Bazel's requests replayed without Bazel (${sizes.length} actions, ${CONCURRENCY} at a time)`);
  if (s.replayStore !== 'filesystem') {
    print(`CAS and AC: ${s.replayStore} stores (NCACHE_BENCH_REPLAY_STORE), not the filesystem ones: cold phase only, the cost of the protocol with ${s.replayStore === 'noop' ? 'nothing stored' : 'the bytes kept in memory'}.`);
  }
  print(
    `Each phase runs ${1 + s.daemonWarmups} passes over different actions on one daemon: "first" is the fresh daemon (V8 still compiling), ` +
      `the rest its last pass (NCACHE_BENCH_DAEMON_WARMUPS=${s.daemonWarmups} passes before it).`,
  );
  const rows: ReplayRow[] = [];
  for (let round = 0; round < s.rounds; round++) {
    const seed = `r${Date.now().toString(36)}${round}`;
    const mine = () => replayOnce('this checkout', undefined, sizes, `${seed}t`, s);
    if (s.baselineRoot === undefined) {
      rows.push(await mine());
      continue;
    }
    const baseline = () => replayOnce('baseline', s.baselineRoot, sizes, `${seed}b`, s);
    // Who goes first alternates: the second daemon of a pair starts while the disk still settles the first one's writes.
    for (const run of round % 2 === 0 ? [baseline, mine] : [mine, baseline]) rows.push(await run());
  }
  const fmt = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(2));
  print(
    table(
      [
        'daemon',
        'cold ms/action first (all threads)',
        'cold: main',
        'other threads user / kernel',
        'all threads',
        'warm ms/hit first (all)',
        'warm: main',
        'all threads',
        'warm RSS peak',
      ],
      rows.map((r) => [
        r.daemon,
        fmt(r.coldFirst.all),
        fmt(r.cold.main),
        `${fmt(r.cold.otherUser)} / ${fmt(r.cold.otherKernel)}`,
        fmt(r.cold.all),
        fmt(r.warmFirst?.all),
        fmt(r.warm?.main),
        fmt(r.warm?.all),
        r.warmPeakRss === undefined ? '-' : `${(r.warmPeakRss / 1e6).toFixed(1)} MB`,
      ]),
    ),
  );
  if (rows.length > 1) {
    const names = [...new Set(rows.map((r) => r.daemon))];
    for (const name of names) {
      const mine = rows.filter((r) => r.daemon === name);
      const med = (pick: (r: ReplayRow) => number | undefined) => {
        const values = mine.map(pick).filter((v): v is number => v !== undefined);
        return values.length === 0 ? '-' : fmt(median(values));
      };
      print(
        `median ${name}: cold ${med((r) => r.cold.all)} ms/action (main ${med((r) => r.cold.main)}; first pass ${med((r) => r.coldFirst.all)}), ` +
          `warm ${med((r) => r.warm?.all)} ms/hit (main ${med((r) => r.warm?.main)}; first pass ${med((r) => r.warmFirst?.all)})`,
      );
    }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2] === 'client') {
  const [, , , address, phase, seed, sizeList] = process.argv;
  runClient(address!, phase!, seed!, sizeList!.split(',').map(Number)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
