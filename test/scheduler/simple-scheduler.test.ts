import { afterEach, describe, expect, it } from 'vitest';
import type { SimpleSchedulerSpec } from '../../src/config/types.js';
import { WorkerLostError } from '../../src/scheduler/job.js';
import { Code } from '../../src/scheduler/outcomes.js';
import type { OperationHandle, OperationState } from '../../src/scheduler/scheduler.js';
import { SimpleScheduler } from '../../src/scheduler/simple-scheduler.js';
import { ManualClock } from '../../src/util/clock.js';
import { NcacheError } from '../../src/util/errors.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { completion, jobRequest, okOutcome, ScriptedWorker, settle, simpleSpec } from './scripted-worker.js';

const open: SimpleScheduler[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function scheduler(spec: Partial<SimpleSchedulerSpec> = {}, extra: { logger?: ReturnType<typeof collectingLogger> } = {}) {
  const clock = new ManualClock();
  const s = new SimpleScheduler({ name: 'MAIN', spec: simpleSpec(spec), clock, sweepIntervalMs: 0, ...extra });
  open.push(s);
  return { s, clock };
}

/** Watches like a client does and records every state it is told. */
function watchAll(handle: OperationHandle): { states: OperationState[]; stop: () => void } {
  const states: OperationState[] = [];
  const stop = handle.watch((state) => states.push(state));
  return { states, stop };
}

function submitError(fn: () => unknown): NcacheError {
  try {
    fn();
  } catch (err) {
    if (err instanceof NcacheError) return err;
    throw err;
  }
  throw new Error('expected submit to throw');
}

describe('SimpleScheduler: running', () => {
  it('hands the action to a worker and reports queued -> executing -> completed', async () => {
    const { s } = scheduler();
    const handle = s.submit(jobRequest('a'));
    expect(handle.name).toMatch(/^operations\/[0-9a-f-]{36}$/);
    expect(handle.current().stage).toBe('queued');
    const seen = watchAll(handle);

    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    expect(w.runs).toHaveLength(1);
    const run = w.runs[0]!;
    expect(run.job.operationName).toBe(handle.name);
    expect(run.job.attempt).toBe(0);
    expect(handle.current()).toMatchObject({ stage: 'executing', worker: 'w1' });

    run.control.onStage?.('fetching_inputs');
    expect(handle.current().workerStage).toBe('fetching_inputs');
    run.finish(okOutcome(3));
    const done = await completion(handle);
    expect(done.outcome?.result.exitCode).toBe(3);
    expect(done.completedAtMs).toBeDefined();
    expect(seen.states.map((st) => st.workerStage ?? st.stage)).toEqual(['executing', 'fetching_inputs', 'completed']);
    expect(s.snapshot().counters).toMatchObject({ submitted: 1, completed: 1, failed: 1, merged: 0 });
  });

  it('gives unique names and finds an operation queued, executing and completed, then forgets it after retain_completed_for_s', async () => {
    const { s, clock } = scheduler({ retain_completed_for_s: 60 });
    const a = s.submit(jobRequest('a'));
    const b = s.submit(jobRequest('b'));
    expect(a.name).not.toBe(b.name);
    expect(s.find(a.name)?.current().stage).toBe('queued');
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    expect(s.find(a.name)?.current().stage).toBe('executing');
    w.runs[0]!.finish();
    await completion(a);
    expect(s.find(a.name)?.current()).toMatchObject({ stage: 'completed', instanceName: '', actionDigest: jobRequest('a').actionDigest });
    clock.advance(59_000);
    s.sweep();
    expect(s.find(a.name)?.current().outcome).toBeDefined();
    clock.advance(1_000);
    expect(s.find(a.name)).toBeUndefined();
    s.sweep();
    expect(s.find(a.name)).toBeUndefined();
    expect(s.find('operations/unknown')).toBeUndefined();
    expect(s.snapshot().recent).toHaveLength(0);
  });

  it('merges identical in-flight actions into one run; do_not_cache actions and other instances are not merged', async () => {
    const { s } = scheduler();
    const w = new ScriptedWorker('w1', { slots: 8 });
    s.addWorker(w);
    const first = s.submit(jobRequest('same'));
    const second = s.submit(jobRequest('same'));
    expect(second).toBe(first);
    expect(w.runs).toHaveLength(1);
    const otherInstance = s.submit(jobRequest('same', { instanceName: 'other' }));
    const noCache1 = s.submit(jobRequest('nc', { doNotCache: true }));
    const noCache2 = s.submit(jobRequest('nc', { doNotCache: true }));
    expect(otherInstance.name).not.toBe(first.name);
    expect(noCache1.name).not.toBe(noCache2.name);
    expect(w.runs).toHaveLength(4);
    expect(s.snapshot().counters.merged).toBe(1);

    w.runs[0]!.finish(okOutcome(0));
    const done = await completion(first);
    expect(done.outcome?.status.code).toBe(Code.OK);
    // Once completed, the same action runs again (the execution service checks the action cache first).
    const again = s.submit(jobRequest('same'));
    expect(again.name).not.toBe(first.name);
  });

  it('runs at most `slots` actions on a worker and starts the next when one finishes', async () => {
    const { s } = scheduler();
    const w = new ScriptedWorker('w1', { slots: 2 });
    s.addWorker(w);
    const handles = ['a', 'b', 'c'].map((k) => s.submit(jobRequest(k)));
    expect(w.active).toHaveLength(2);
    expect(handles[2]!.current().stage).toBe('queued');
    expect(s.snapshot().workers[0]!.running).toEqual([handles[0]!.name, handles[1]!.name]);
    w.runs[1]!.finish();
    await settle();
    expect(w.active).toHaveLength(2);
    expect(handles[2]!.current().stage).toBe('executing');
  });

  it('consumes minimum properties while running: a worker with 4 cpus runs one 3-cpu action at a time', async () => {
    const { s } = scheduler({ supported_platform_properties: { cpu_count: 'minimum' } });
    const w = new ScriptedWorker('w1', { slots: 4, properties: { cpu_count: ['4'] } });
    s.addWorker(w);
    const big1 = s.submit(jobRequest('big1', { platform: { cpu_count: ['3'] } }));
    const big2 = s.submit(jobRequest('big2', { platform: { cpu_count: ['3'] } }));
    const small = s.submit(jobRequest('small', { platform: { cpu_count: ['1'] } }));
    expect(big1.current().stage).toBe('executing');
    expect(big2.current().stage).toBe('queued');
    expect(small.current().stage).toBe('executing'); // a smaller action behind does not wait for the big one
    expect(s.snapshot().workers[0]!.available).toEqual({ cpu_count: 0 });
    w.runs[0]!.finish();
    await settle();
    expect(big2.current().stage).toBe('executing');
  });

  it('says (info, not warn) when an action waits for capacity while a slot is free', () => {
    const logger = collectingLogger();
    const { s } = scheduler({ supported_platform_properties: { cpu_count: 'minimum' } }, { logger });
    s.addWorker(new ScriptedWorker('w1', { slots: 2, properties: { cpu_count: ['4'] } }));
    s.submit(jobRequest('big1', { platform: { cpu_count: ['3'] } }));
    const waiting = s.submit(jobRequest('big2', { platform: { cpu_count: ['3'] } }));
    expect(logger.lines.filter((l) => l.includes('waits'))).toEqual([
      `info action ${waiting.current().actionDigest.hash}/4 waits: no worker with a free slot has the free platform properties it needs`,
    ]);
  });

  it('orders the queue by ExecutionPolicy.priority, lower first, FIFO within a priority', async () => {
    const { s } = scheduler();
    const order = [
      ['late-low', 5],
      ['first-default', 0],
      ['urgent', -1],
      ['second-default', 0],
    ] as const;
    const handles = new Map(order.map(([k, p]) => [s.submit(jobRequest(k, { priority: p })).name, k]));
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    const ran: string[] = [];
    for (let i = 0; i < order.length; i++) {
      const run = w.active[0]!;
      ran.push(handles.get(run.job.operationName)!);
      run.finish();
      await settle();
    }
    expect(ran).toEqual(['urgent', 'first-default', 'second-default', 'late-low']);
    expect(s.snapshot().counters.queueWaitMs).toHaveLength(4);
    expect(s.snapshot().counters.executionMs).toHaveLength(4);
  });

  it.each([
    ['least_recently_used', ['w1', 'w2', 'w1', 'w2']],
    ['most_recently_used', ['w1', 'w1', 'w1', 'w1']],
  ] as const)('allocation_strategy %s', async (strategy, expected) => {
    const { s } = scheduler({ allocation_strategy: strategy });
    const w1 = new ScriptedWorker('w1');
    const w2 = new ScriptedWorker('w2');
    s.addWorker(w1);
    s.addWorker(w2);
    const used: string[] = [];
    for (const key of ['a', 'b', 'c', 'd']) {
      const handle = s.submit(jobRequest(key));
      const worker = handle.current().worker!;
      used.push(worker);
      (worker === 'w1' ? w1 : w2).active[0]!.finish();
      await completion(handle);
    }
    expect(used).toEqual(expected);
  });

  it('prefers a worker offering a priority property value, without requiring it', async () => {
    const { s } = scheduler({ supported_platform_properties: { pool: 'priority' } });
    s.addWorker(new ScriptedWorker('plain'));
    s.addWorker(new ScriptedWorker('fast', { properties: { pool: ['fast'] } }));
    expect(s.submit(jobRequest('a', { platform: { pool: ['fast'] } })).current().worker).toBe('fast');
    expect(s.submit(jobRequest('b', { platform: { pool: ['fast'] } })).current().worker).toBe('plain');
  });
});

describe('SimpleScheduler: refusing', () => {
  it('refuses a property it does not support with INVALID_ARGUMENT naming it', () => {
    const { s } = scheduler({ supported_platform_properties: { OSFamily: 'exact' } });
    const err = submitError(() => s.submit(jobRequest('a', { platform: { gpu: ['1'] } })));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('"gpu"');
    expect(s.snapshot().counters.submitted).toBe(0);
  });

  it('refuses at once, FAILED_PRECONDITION naming property and value, an action no worker could ever run', () => {
    const { s } = scheduler({ supported_platform_properties: { cpu_count: 'minimum', OSFamily: 'exact' } });
    s.addWorker(new ScriptedWorker('w1', { properties: { cpu_count: ['8'], OSFamily: ['Linux'] } }));
    const err = submitError(() => s.submit(jobRequest('a', { platform: { cpu_count: ['64'] } })));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain('cpu_count');
    expect(err.message).toContain('64');
    const exact = submitError(() => s.submit(jobRequest('b', { platform: { OSFamily: ['Windows'] } })));
    expect(exact.message).toContain('Windows');
    expect(s.snapshot().queued).toHaveLength(0);
  });

  it('fails queued actions no remaining worker could run when the only capable worker leaves', async () => {
    const { s } = scheduler({ supported_platform_properties: { OSFamily: 'exact' } });
    const linux = new ScriptedWorker('linux', { properties: { OSFamily: ['Linux'] } });
    s.addWorker(linux);
    s.addWorker(new ScriptedWorker('mac', { properties: { OSFamily: ['Darwin'] } }));
    s.submit(jobRequest('first', { platform: { OSFamily: ['Linux'] } }));
    const waiting = s.submit(jobRequest('second', { platform: { OSFamily: ['Linux'] } }));
    expect(waiting.current().stage).toBe('queued');
    s.removeWorker('linux');
    const done = await completion(waiting);
    expect(done.outcome?.status.code).toBe(Code.FAILED_PRECONDITION);
    expect(done.outcome?.status.message).toContain('OSFamily');
  });

  it('refuses a worker registered twice or with no slots', () => {
    const { s } = scheduler();
    s.addWorker(new ScriptedWorker('w1'));
    expect(submitError(() => s.addWorker(new ScriptedWorker('w1'))).message).toContain('already registered');
    expect(submitError(() => s.addWorker(new ScriptedWorker('w2', { slots: 0 }))).message).toContain('slots');
  });
});

describe('SimpleScheduler: lost workers and failures', () => {
  it('re-queues an action whose worker was lost, up to max_job_retries, then fails UNAVAILABLE naming the worker and attempts', async () => {
    const { s } = scheduler({ max_job_retries: 2 });
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    const handle = s.submit(jobRequest('a'));
    const seen = watchAll(handle);
    for (let attempt = 0; attempt < 3; attempt++) {
      const run = w.active[0]!;
      expect(run.job.attempt).toBe(attempt);
      expect(run.job.operationName).toBe(handle.name);
      run.fail(new WorkerLostError('sandbox vanished'));
      await settle();
    }
    const done = await completion(handle);
    expect(done.outcome?.status.code).toBe(Code.UNAVAILABLE);
    expect(done.outcome?.status.message).toContain('"w1"');
    expect(done.outcome?.status.message).toContain('3 attempts');
    expect(done.outcome?.result.outputFiles).toEqual([]); // a result is always present
    expect(seen.states.filter((st) => st.stage === 'queued')).toHaveLength(2);
    expect(s.snapshot().counters).toMatchObject({ retried: 2, completed: 1, failed: 1 });
  });

  it('a retried action succeeds on its next attempt', async () => {
    const { s } = scheduler();
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    const handle = s.submit(jobRequest('a'));
    w.active[0]!.fail(new WorkerLostError('lost'));
    await settle();
    w.active[0]!.finish();
    expect((await completion(handle)).outcome?.status.code).toBe(Code.OK);
  });

  it('turns any other rejection (a worker bug) into INTERNAL, never a hang', async () => {
    const logger = collectingLogger();
    const { s } = scheduler({}, { logger });
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    const handle = s.submit(jobRequest('a'));
    w.active[0]!.fail(new TypeError('cannot read properties of undefined'));
    const done = await completion(handle);
    expect(done.outcome?.status.code).toBe(Code.INTERNAL);
    expect(done.outcome?.status.message).toContain('cannot read properties');
    expect(logger.lines.some((l) => l.startsWith('error') && l.includes('w1'))).toBe(true);
    // The slot is free again.
    const next = s.submit(jobRequest('b'));
    expect(next.current().stage).toBe('executing');
  });

  it('treats a worker whose run() throws synchronously like one that rejects', async () => {
    const { s } = scheduler();
    s.addWorker({
      id: 'broken',
      properties: {},
      slots: 1,
      run: () => {
        throw new Error('not implemented here');
      },
    });
    const done = await completion(s.submit(jobRequest('a')));
    expect(done.outcome?.status.code).toBe(Code.INTERNAL);
  });

  it('turns an outcome without a result or status (a broken worker) into INTERNAL', async () => {
    const { s } = scheduler();
    // As a remote worker's answer decoded from the wire could be: typed, but not what the type says.
    s.addWorker({ id: 'garbled', properties: {}, slots: 1, run: async () => JSON.parse('{"result":null}') });
    const done = await completion(s.submit(jobRequest('a')));
    expect(done.outcome?.status.code).toBe(Code.INTERNAL);
    expect(done.outcome?.result).toBeDefined();
  });

  it('gives the slot back when a watcher ends the run before the worker is called', () => {
    const { s, clock } = scheduler({ client_action_timeout_s: 1 });
    const handle = s.submit(jobRequest('a'));
    // On "executing", the only watcher leaves and the operation outlives client_action_timeout_s before the worker is called.
    const stop = handle.watch((state) => {
      if (state.stage !== 'executing') return;
      stop();
      clock.advance(1_001);
      s.sweep();
    });
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    expect(handle.current().stage).toBe('completed');
    expect(w.runs).toHaveLength(0);
    expect(s.snapshot().workers[0]!.running).toEqual([]);
    expect(s.submit(jobRequest('b')).current().stage).toBe('executing');
  });

  it('removeWorker re-queues its running actions to another worker and aborts the run', async () => {
    const { s } = scheduler();
    const w1 = new ScriptedWorker('w1');
    s.addWorker(w1);
    const handle = s.submit(jobRequest('a'));
    const w2 = new ScriptedWorker('w2');
    s.addWorker(w2);
    s.removeWorker('w1');
    expect(w1.runs[0]!.ended).toBe('aborted');
    expect(handle.current().worker).toBe('w2');
    expect(w2.runs[0]!.job.attempt).toBe(1);
  });
});

describe('SimpleScheduler: timeouts', () => {
  it('removes a worker that stops sending keep-alives for worker_timeout_s and re-queues its actions', async () => {
    const logger = collectingLogger();
    const { s, clock } = scheduler({ worker_timeout_s: 5 }, { logger });
    const silent = new ScriptedWorker('silent', { keepAliveMs: 1000 });
    s.addWorker(silent);
    const handle = s.submit(jobRequest('a'));
    const run = silent.runs[0]!;
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      run.control.keepAlive?.();
      s.sweep();
    }
    expect(s.snapshot().workers.map((w) => w.id)).toEqual(['silent']);
    expect(s.snapshot().workers[0]!.lastSeenMs).toBe(clock.now());
    // It stops reporting.
    clock.advance(5000);
    s.sweep();
    expect(s.snapshot().workers).toHaveLength(1);
    clock.advance(1);
    s.sweep();
    expect(s.snapshot().workers).toHaveLength(0);
    expect(run.ended).toBe('aborted');
    expect(handle.current().stage).toBe('queued');
    expect(logger.lines.some((l) => l.includes('"silent"') && l.includes('worker_timeout_s'))).toBe(true);
    const fresh = new ScriptedWorker('fresh');
    s.addWorker(fresh);
    expect(fresh.runs[0]!.job.attempt).toBe(1);
    expect(s.snapshot().counters.retried).toBe(1);
  });

  it('does not time out a worker that reports no liveness (in process), nor an idle one', () => {
    const { s, clock } = scheduler({ worker_timeout_s: 5 });
    s.addWorker(new ScriptedWorker('in-process'));
    s.addWorker(new ScriptedWorker('idle', { keepAliveMs: 1000 }));
    s.submit(jobRequest('a'));
    clock.advance(60_000);
    s.sweep();
    expect(s.snapshot().workers.map((w) => w.id).sort()).toEqual(['idle', 'in-process']);
  });

  it('cancels an operation nobody watches for client_action_timeout_s: its run is aborted', async () => {
    const { s, clock } = scheduler({ client_action_timeout_s: 60 });
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    const unwatched = s.submit(jobRequest('a'));
    const watched = s.submit(jobRequest('b'));
    const watcher = watchAll(watched);
    clock.advance(60_000);
    s.sweep();
    expect(unwatched.current().stage).toBe('executing');
    clock.advance(1);
    s.sweep();
    expect(unwatched.current().stage).toBe('completed');
    expect(unwatched.current().outcome?.status.code).toBe(Code.UNAVAILABLE);
    expect(unwatched.current().outcome?.status.message).toContain('client_action_timeout_s');
    expect(w.runs[0]!.ended).toBe('aborted');
    await settle();
    // The freed slot went to the watched operation, which is not cancelled while watched.
    expect(watched.current().stage).toBe('executing');
    clock.advance(120_000);
    s.sweep();
    expect(watched.current().stage).toBe('executing');
    // Once its last watcher leaves, its own timer starts.
    watcher.stop();
    clock.advance(60_001);
    s.sweep();
    expect(watched.current().stage).toBe('completed');
  });

  it('takes an unwatched queued operation out of the queue', () => {
    const { s, clock } = scheduler({ client_action_timeout_s: 10 });
    s.addWorker(new ScriptedWorker('busy'));
    watchAll(s.submit(jobRequest('running')));
    const queued = s.submit(jobRequest('queued'));
    expect(s.snapshot().queued.map((o) => o.name)).toEqual([queued.name]);
    clock.advance(10_001);
    s.sweep();
    expect(s.snapshot().queued).toHaveLength(0);
    expect(queued.current().stage).toBe('completed');
  });

  it('aborts a run with no worker update for max_action_executing_timeout_s and re-queues it like a lost worker', async () => {
    const { s, clock } = scheduler({ max_action_executing_timeout_s: 30, max_job_retries: 1 });
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    const handle = s.submit(jobRequest('a'));
    watchAll(handle);
    const first = w.runs[0]!;
    clock.advance(20_000);
    first.control.onStage?.('executing'); // a worker update restarts the clock
    clock.advance(30_000);
    s.sweep();
    expect(first.ended).toBeUndefined();
    clock.advance(1);
    s.sweep();
    expect(first.ended).toBe('aborted');
    await settle();
    const second = w.runs[1]!;
    expect(second.job.attempt).toBe(1);
    clock.advance(30_001);
    s.sweep();
    const done = await completion(handle);
    expect(done.outcome?.status.code).toBe(Code.UNAVAILABLE);
    expect(done.outcome?.status.message).toContain('max_action_executing_timeout_s');
  });

  it('with no worker at all, fails queued actions after a bounded wait with how to add a worker', async () => {
    const { s, clock } = scheduler({ worker_timeout_s: 5 });
    const handle = s.submit(jobRequest('a'));
    clock.advance(4_999);
    s.sweep();
    expect(handle.current().stage).toBe('queued');
    clock.advance(1);
    s.sweep();
    const done = await completion(handle);
    expect(done.outcome?.status.code).toBe(Code.FAILED_PRECONDITION);
    expect(done.outcome?.status.message).toContain('no workers');
    expect(done.outcome?.status.message).toContain('workers: [{ local:');
    expect(done.outcome?.status.message).toContain('ncache init --exec');
  });

  it('runs a queued action when a worker arrives within the wait', () => {
    const { s, clock } = scheduler({ worker_timeout_s: 5 });
    const handle = s.submit(jobRequest('a'));
    clock.advance(4_000);
    s.sweep();
    s.addWorker(new ScriptedWorker('late'));
    expect(handle.current().stage).toBe('executing');
  });

  it('reads 0 as NativeLink does: the default, not "no time at all"', async () => {
    const { s, clock } = scheduler({ worker_timeout_s: 0, client_action_timeout_s: 0, retain_completed_for_s: 0, max_job_retries: 0 });
    const w = new ScriptedWorker('w1', { keepAliveMs: 1000 });
    s.addWorker(w);
    const handle = s.submit(jobRequest('a'));
    clock.advance(4_000);
    s.sweep();
    expect(s.snapshot().workers).toHaveLength(1); // worker_timeout_s 5
    expect(handle.current().stage).toBe('executing'); // client_action_timeout_s 60
    for (let attempt = 0; attempt < 4; attempt++) {
      w.active[0]!.control.keepAlive?.();
      w.active[0]!.fail(new WorkerLostError('lost'));
      await settle();
    }
    const done = await completion(handle);
    expect(done.outcome?.status.message).toContain('4 attempts'); // max_job_retries 3
    clock.advance(59_000);
    expect(s.find(handle.name)).toBeDefined(); // retain_completed_for_s 60
  });

  it('logs worker matching problems at most every worker_match_logging_interval_s, never at -1', () => {
    for (const [interval, expected] of [
      [10, 2],
      [-1, 0],
    ] as const) {
      const logger = collectingLogger();
      const { s, clock } = scheduler({ worker_match_logging_interval_s: interval, worker_timeout_s: 3600 }, { logger });
      s.submit(jobRequest('a'));
      for (let i = 0; i < 11; i++) {
        s.sweep();
        clock.advance(1000);
      }
      expect(logger.lines.filter((l) => l.includes('no workers'))).toHaveLength(expected);
    }
  });
});

describe('SimpleScheduler: snapshot and close', () => {
  it('shows workers, queued, executing and recent (newest first)', async () => {
    const { s, clock } = scheduler({ supported_platform_properties: { cpu_count: 'minimum' } });
    const w = new ScriptedWorker('w1', { slots: 2, properties: { cpu_count: ['4'] } });
    s.addWorker(w);
    const a = s.submit(jobRequest('a', { platform: { cpu_count: ['1'] } }));
    const b = s.submit(jobRequest('b'));
    const c = s.submit(jobRequest('c'));
    w.runs[0]!.finish();
    await completion(a);
    clock.advance(10);
    w.runs[1]!.finish();
    await completion(b);
    const snap = s.snapshot();
    expect(snap.name).toBe('MAIN');
    expect(snap.workers).toEqual([
      { id: 'w1', properties: { cpu_count: ['4'] }, slots: 2, running: [c.name], available: { cpu_count: 4 }, lastSeenMs: clock.now() },
    ]);
    expect(snap.executing.map((o) => o.name)).toEqual([c.name]);
    expect(snap.queued).toEqual([]);
    expect(snap.recent.map((o) => o.name)).toEqual([b.name, a.name]);
    expect(snap.counters).toMatchObject({ submitted: 3, completed: 2, failed: 0 });
  });

  it('close aborts every run, completes every operation UNAVAILABLE "daemon stopping" and closes the workers', async () => {
    const { s } = scheduler();
    const w = new ScriptedWorker('w1');
    s.addWorker(w);
    const running = s.submit(jobRequest('a'));
    const queued = s.submit(jobRequest('b'));
    const seen = watchAll(queued);
    await s.close();
    expect(w.runs[0]!.ended).toBe('aborted');
    expect(w.closed).toBe(true);
    for (const handle of [running, queued]) {
      expect(handle.current().outcome?.status.code).toBe(Code.UNAVAILABLE);
      expect(handle.current().outcome?.status.message).toContain('daemon stopping');
    }
    expect(seen.states.at(-1)?.stage).toBe('completed');
    expect(submitError(() => s.submit(jobRequest('c'))).code).toBe('UNAVAILABLE');
    await s.close(); // twice is harmless
  });
});
