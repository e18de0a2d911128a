// The crash suite, one module for both lengths: `npm test` runs a few kills
// per stack (test/reliability/crash.test.ts), `npm run test:stress` fifty
// (test/stress/crash.stress.test.ts). Per stack: start `ncache serve` (a real
// child process), let concurrent writers upload, SIGKILL the daemon after a
// seeded number of acknowledgements plus a seeded few milliseconds, restart
// it on the same state dir and stores, run the checks (crash-checks.ts), and
// repeat. Prints its figures for docs/reliability.md.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../bench/corpus.js';
import { errorMessage } from '../../src/util/errors.js';
import type { DaemonProcess } from '../helpers/daemon-process.js';
import { checkAfterRestart } from './crash-checks.js';
import { Ledger, writeUntilKilled } from './crash-load.js';
import { type CrashStack, type CrashStackName, openCrashStack } from './crash-stacks.js';

export interface CrashSuiteOptions {
  /** Each stack with its number of kills. */
  stacks: readonly { name: CrashStackName; kills: number }[];
  /** The runs are reproducible up to timing: the kill points and the data come from it. */
  seed: number;
  /** Concurrent gRPC clients. Default 4. */
  writers?: number;
  /** Most acknowledgements a round waits for before its kill. Default 40. */
  maxAcksBeforeKill?: number;
  timeoutMs: number;
}

export interface CrashFigures {
  stack: CrashStackName;
  kills: number;
  blobsAcknowledged: number;
  actionResultsAcknowledged: number;
  blobsChecked: number;
  /** Uploads the kills left owed to S3, resumed by the restarts (write-behind's "resuming N uploads"). */
  owedAtKills: number;
  /** Dedup uploads the kills left pending, settled by the restarts. */
  pendingAtKills: number;
  restartP50Ms: number;
  restartMaxMs: number;
}

export function defineCrashSuite(opts: CrashSuiteOptions): void {
  describe.each(opts.stacks.map((stack, i) => ({ ...stack, i })))('SIGKILL under concurrent uploads: $name', ({ name, kills, i }) => {
    const title =
      `${kills} kills: nothing acknowledged is lost, nothing present is wrong, ` + 'the catalog adds up, S3 gets what it is owed';
    it(title, async () => {
      const stack = await openCrashStack(name);
      try {
        const figures = await killRepeatedly(stack, kills, opts, opts.seed + i * 7919);
        console.log(`crash figures ${JSON.stringify(figures)}`);
        expect(figures.kills).toBe(kills);
      } finally {
        await stack.cleanup();
      }
    }, opts.timeoutMs);
  });
}

async function killRepeatedly(stack: CrashStack, kills: number, opts: CrashSuiteOptions, seed: number): Promise<CrashFigures> {
  const rng = new Prng(seed);
  const ledger = new Ledger();
  const restarts: number[] = [];
  let checked = 0;
  let owed = 0;
  let pending = 0;
  let daemon = await stack.fixture.start();
  for (let round = 1; round <= kills; round++) {
    try {
      ledger.newRound();
      await loadAndKill(daemon, ledger, rng, opts, seed + round);
      const started = performance.now();
      daemon = await stack.fixture.start();
      restarts.push(performance.now() - started);
      const log = daemon.stderr();
      owed += sumOf(log, /resuming (\d+) uploads/g);
      pending += sumOf(log, /settled (\d+) upload\(s\) interrupted/g);
      checked += await checkAfterRestart(stack, daemon, ledger, rng);
    } catch (err) {
      const log = daemon.stderr().split('\n').slice(-30).join('\n');
      const where = `${stack.name}, kill ${round} of ${kills} (seed ${seed})`;
      throw new Error(`${where}: ${errorMessage(err)}\n--- daemon log (last lines) ---\n${log}`, { cause: err });
    }
  }
  restarts.sort((a, b) => a - b);
  return {
    stack: stack.name,
    kills,
    blobsAcknowledged: ledger.blobs.size,
    actionResultsAcknowledged: ledger.actions.size,
    blobsChecked: checked,
    owedAtKills: owed,
    pendingAtKills: pending,
    restartP50Ms: Math.round(restarts[Math.floor(restarts.length / 2)] ?? 0),
    restartMaxMs: Math.round(restarts[restarts.length - 1] ?? 0),
  };
}

/** The sum of the numbers `pattern` (with one group) finds in `text`. */
function sumOf(text: string, pattern: RegExp): number {
  return [...text.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Writes until a seeded number of acknowledgements, then SIGKILLs the daemon a seeded 0-30 ms later. */
async function loadAndKill(
  daemon: DaemonProcess,
  ledger: Ledger,
  rng: Prng,
  opts: CrashSuiteOptions,
  contentSeed: number,
): Promise<void> {
  const target = rng.int(1, (opts.maxAcksBeforeKill ?? 40) + 1);
  const delayMs = rng.int(0, 31);
  let acks = 0;
  let killed = false;
  const load = writeUntilKilled({
    address: daemon.address,
    ledger,
    rng,
    contentSeed,
    writers: opts.writers ?? 4,
    onAck: () => {
      if (++acks !== target) return;
      setTimeout(() => {
        killed = true;
        process.kill(daemon.pid, 'SIGKILL');
      }, delayMs);
    },
    killed: () => killed,
  });
  const { unexpected } = await load;
  expect(unexpected, 'calls that failed while the daemon was alive').toEqual([]);
  expect((await daemon.exited).signal).toBe('SIGKILL');
}
