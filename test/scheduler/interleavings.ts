// Random interleavings of everything that can happen to a SimpleScheduler —
// submits (merged or not, some refused), results, lost workers, worker bugs,
// workers joining, leaving and going silent, clients leaving, time passing —
// with the scheduler's invariants checked after every step, then a drain
// that must finish every operation. One module at two scales: the short form
// runs in `npm test` (simple-scheduler-interleavings.test.ts), the long one
// in test/stress/scheduler-interleavings.stress.test.ts. A failure names its
// seed and case; FUZZ_SEED=<seed> replays it.
import { expect, it } from 'vitest';
import { WorkerLostError } from '../../src/scheduler/job.js';
import type { OperationHandle, OperationState } from '../../src/scheduler/scheduler.js';
import { SimpleScheduler } from '../../src/scheduler/simple-scheduler.js';
import { ManualClock } from '../../src/util/clock.js';
import { NcacheError } from '../../src/util/errors.js';
import { fuzzSeed, Prng } from '../helpers/prng.js';
import { jobRequest, okOutcome, ScriptedWorker, settle, simpleSpec } from './scripted-worker.js';

export interface InterleavingsOptions {
  cases: number;
  steps: number;
  seed: number;
}

const KEYS = 16;

/** Platform and flags follow from the action's key: identical digests are identical actions. */
function actionFor(key: number) {
  const platform: Record<string, string[]> = { cpu_count: [String(key % 5)] };
  if (key % 7 === 0) platform.os = ['mac'];
  else if (key % 3 === 0) platform.os = ['linux'];
  if (key % 4 === 1) platform.pool = ['fast'];
  return { platform, priority: (key % 4) - 1, doNotCache: key % 11 === 0, cpu: key % 5 };
}

export function defineInterleavings(opts: InterleavingsOptions): void {
  const seed = fuzzSeed(opts.seed);
  it(`${opts.cases} cases of ${opts.steps} steps keep every invariant and finish every operation (seed ${seed})`, async () => {
    for (let c = 0; c < opts.cases; c++) {
      try {
        await runCase(Prng.forCase(seed, c), opts.steps);
      } catch (err) {
        throw new Error(`seed ${seed} case ${c}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
  });
}

async function runCase(rng: Prng, steps: number): Promise<void> {
  const clock = new ManualClock();
  const s = new SimpleScheduler({
    name: 'FUZZ',
    clock,
    sweepIntervalMs: 0,
    spec: simpleSpec({
      supported_platform_properties: { cpu_count: 'minimum', os: 'exact', pool: 'priority' },
      worker_timeout_s: 5,
      client_action_timeout_s: 30,
      retain_completed_for_s: 10,
      max_job_retries: rng.between(1, 3),
      max_action_executing_timeout_s: rng.pick([0, 20]),
      allocation_strategy: rng.pick(['least_recently_used', 'most_recently_used'] as const),
    }),
  });
  const workers = new Map<string, ScriptedWorker>();
  const removed: ScriptedWorker[] = [];
  const cpuOf = new Map<string, number>();
  const handles = new Map<string, OperationHandle>();
  const watchers: { name: string; states: OperationState[]; stop: () => void }[] = [];
  let nextWorker = 0;

  const addWorker = (cpu: number, os: string) => {
    const w = new ScriptedWorker(`w${nextWorker++}`, {
      slots: rng.between(1, 3),
      properties: { cpu_count: [String(cpu)], os: [os], ...(rng.chance(0.5) ? { pool: ['fast'] } : {}) },
      ...(rng.chance(0.4) ? { keepAliveMs: 1000 } : {}),
    });
    s.addWorker(w);
    workers.set(w.id, w);
  };
  const liveRuns = () => [...workers.values()].flatMap((w) => w.active);
  const watch = (handle: OperationHandle) => {
    const entry = { name: handle.name, states: [] as OperationState[], stop: () => {} };
    entry.stop = handle.watch((state) => entry.states.push(state));
    watchers.push(entry);
  };

  for (let i = rng.between(0, 2); i > 0; i--) addWorker(rng.between(1, 4), rng.pick(['linux', 'mac']));

  for (let step = 0; step < steps; step++) {
    const roll = rng.int(100);
    const runs = liveRuns();
    if (roll < 30) {
      const key = rng.int(KEYS);
      const action = actionFor(key);
      try {
        const handle = s.submit(jobRequest(`k${key}`, action));
        handles.set(handle.name, handle);
        cpuOf.set(handle.name, action.cpu);
        if (rng.chance(0.7)) watch(handle);
      } catch (err) {
        // Only refusals the scheduler promises: no worker could ever run it.
        expect(err).toBeInstanceOf(NcacheError);
        expect((err as NcacheError).code).toBe('FAILED_PRECONDITION');
      }
    } else if (roll < 50 && runs.length > 0) {
      rng.pick(runs).finish(okOutcome(rng.pick([0, 0, 1])));
    } else if (roll < 57 && runs.length > 0) {
      rng.pick(runs).fail(new WorkerLostError('lost in the fuzz'));
    } else if (roll < 60 && runs.length > 0) {
      rng.pick(runs).fail(new Error('a worker bug'));
    } else if (roll < 66 && runs.length > 0) {
      const run = rng.pick(runs);
      if (rng.chance(0.5)) run.control.keepAlive?.();
      else run.control.onStage?.(rng.pick(['fetching_inputs', 'executing', 'uploading_outputs'] as const));
    } else if (roll < 72) {
      addWorker(rng.between(1, 4), rng.pick(['linux', 'mac']));
    } else if (roll < 76 && workers.size > 0) {
      const w = rng.pick([...workers.values()]);
      s.removeWorker(w.id);
      workers.delete(w.id);
      removed.push(w);
    } else if (roll < 82 && watchers.length > 0) {
      rng.pick(watchers).stop();
    } else {
      clock.advance(rng.pick([0, 500, 2000, 6000, 11000, 31000]));
      s.sweep();
    }
    await settle();
    // A worker the scheduler timed out is gone from its view; the test stops using it.
    const registered = new Set(s.snapshot().workers.map((w) => w.id));
    for (const [id, w] of workers) {
      if (!registered.has(id)) {
        workers.delete(id);
        removed.push(w);
      }
    }
    checkInvariants(s, workers, removed, cpuOf);
  }

  // Drain: a worker able to run anything, results for every run, time for every deadline.
  addWorker(4, 'linux');
  addWorker(4, 'mac');
  for (let round = 0; round < 500; round++) {
    const snap = s.snapshot();
    if (snap.queued.length === 0 && snap.executing.length === 0) break;
    for (const run of liveRuns()) run.finish();
    clock.advance(1000);
    s.sweep();
    await settle();
    checkInvariants(s, workers, removed, cpuOf);
  }
  const end = s.snapshot();
  expect(end.queued, 'queued after the drain').toEqual([]);
  expect(end.executing, 'executing after the drain').toEqual([]);
  for (const w of end.workers) {
    expect(w.running).toEqual([]);
    expect(w.available.cpu_count).toBe(Number(workers.get(w.id)?.properties.cpu_count?.[0]));
  }
  for (const handle of handles.values()) {
    const state = handle.current();
    expect(state.stage).toBe('completed');
    expect(state.outcome?.result).toBeDefined();
    expect(typeof state.outcome?.status.code).toBe('number');
  }
  // Each watcher saw stages in a possible order and the completion at most once, last.
  for (const w of watchers) {
    const completions = w.states.filter((st) => st.stage === 'completed');
    expect(completions.length).toBeLessThanOrEqual(1);
    if (completions.length === 1) expect(w.states.at(-1)?.stage).toBe('completed');
  }
  const counters = end.counters;
  expect(counters.completed).toBe(handles.size);
  expect(counters.submitted - counters.merged).toBe(handles.size);
  await s.close();
}

function checkInvariants(s: SimpleScheduler, workers: Map<string, ScriptedWorker>, removed: ScriptedWorker[], cpuOf: Map<string, number>): void {
  const snap = s.snapshot();
  const placed = new Set<string>();
  for (const op of snap.queued) {
    expect(op.stage).toBe('queued');
    expect(placed.has(op.name), `${op.name} listed twice`).toBe(false);
    placed.add(op.name);
  }
  const runningOn = new Map<string, string>();
  for (const w of snap.workers) {
    const worker = workers.get(w.id);
    expect(worker, `scheduler lists worker ${w.id} the test removed`).toBeDefined();
    expect(w.running.length).toBeLessThanOrEqual(w.slots);
    const used = w.running.reduce((sum, name) => sum + (cpuOf.get(name) ?? 0), 0);
    expect(w.available.cpu_count, `free cpus of ${w.id}`).toBe(Number(worker?.properties.cpu_count?.[0]) - used);
    for (const name of w.running) runningOn.set(name, w.id);
    // Every run the worker still has going is one the scheduler counts as running there.
    expect(worker?.active.map((r) => r.job.operationName).sort()).toEqual([...w.running].sort());
  }
  for (const op of snap.executing) {
    expect(placed.has(op.name), `${op.name} both queued and executing`).toBe(false);
    expect(runningOn.get(op.name), `${op.name} executing but on no worker`).toBe(op.worker);
  }
  // A worker that left has nothing still running: the scheduler aborted its runs.
  for (const w of removed) expect(w.active, `runs left going on removed worker ${w.id}`).toEqual([]);
}
