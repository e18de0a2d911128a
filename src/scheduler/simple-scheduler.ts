// NativeLink's `simple` scheduler, in process: a queue ordered by priority
// then arrival, matched to workers by platform properties, with the timeouts
// of SimpleSchedulerSpec. Everything happens on the event loop: a submit, a
// worker added, a run settling or a periodic sweep (deadlines) each changes
// state and then matches the queue against free workers.
import { randomUUID } from 'node:crypto';
import { SIMPLE_SCHEDULER_DEFAULTS } from '../config/schema-execution.js';
import type { SimpleSchedulerSpec } from '../config/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import { formatDigest } from '../util/digest.js';
import { errorMessage, invalidArgument, unavailable } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { ActionQueue } from './action-queue.js';
import type { ExecutionWorker, JobOutcome, JobRequest, RunControl, WorkerStage } from './job.js';
import { WorkerLostError } from './job.js';
import { Operation, type Run } from './operation.js';
import { OperationBook } from './operation-book.js';
import { Code, failedOutcome, isFailure } from './outcomes.js';
import { adjust, assertSatisfiable, type Capacity, capacityOf, fitsNow, neverMeets, preference, requirementsOf } from './platform-match.js';
import { RecentSamples } from './recent-samples.js';
import type { OperationHandle, OperationState, Scheduler, SchedulerCounters, SchedulerSnapshot } from './scheduler.js';

export interface SimpleSchedulerOptions {
  /** `schedulers[].name`. */
  name: string;
  spec: SimpleSchedulerSpec;
  logger?: Logger;
  clock?: Clock;
  /** How often deadlines are checked (ms); 0 = only when `sweep()` is called (tests moving a ManualClock). Default 1000. */
  sweepIntervalMs?: number;
}

interface WorkerEntry {
  readonly worker: ExecutionWorker;
  /** Its `minimum` properties in full, and what running actions leave free. */
  readonly total: Capacity;
  readonly free: Capacity;
  readonly runs: Set<Run>;
  /** Last keep-alive, stage report, result or hand-out. */
  lastSeenMs: number;
  /** Order of its last hand-out (allocation_strategy); 0 = never used. */
  lastUsed: number;
}

const ABORT = (reason: string) => Object.assign(new Error(reason), { name: 'AbortError' });

export class SimpleScheduler implements Scheduler {
  readonly name: string;
  private readonly spec: SimpleSchedulerSpec;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly workers = new Map<string, WorkerEntry>();
  private readonly queue = new ActionQueue<Operation>();
  private readonly operations: OperationBook<Operation>;
  private readonly counts = { submitted: 0, merged: 0, completed: 0, failed: 0, retried: 0 };
  private readonly queueWait = new RecentSamples();
  private readonly execution = new RecentSamples();
  private sequence = 0;
  private uses = 0;
  private noWorkersSinceMs: number;
  private lastMatchLogMs = Number.NEGATIVE_INFINITY;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  private matching = false;
  private matchAgain = false;

  constructor(options: SimpleSchedulerOptions) {
    this.name = options.name;
    this.spec = withNativeLinkZeros(options.spec);
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.operations = new OperationBook(this.spec.retain_completed_for_s * 1000);
    this.noWorkersSinceMs = this.clock.now();
    const every = options.sweepIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweep(), every);
      this.timer.unref();
    }
  }

  submit(request: JobRequest): OperationHandle {
    if (this.closed) throw unavailable(`scheduler "${this.name}" is stopping`);
    const requirements = requirementsOf(this.name, this.spec.supported_platform_properties, request.platform);
    assertSatisfiable(this.name, requirements, [...this.workers.values()].map((w) => ({ properties: w.worker.properties, total: w.total })));
    this.counts.submitted++;
    const now = () => this.clock.now();
    const { op, joined } = this.operations.joinOrAdd(
      request,
      (mergeKey) => new Operation(`operations/${randomUUID()}`, request, requirements, mergeKey, ++this.sequence, now(), now, this.logger),
    );
    if (joined) {
      this.counts.merged++;
      return op.handle;
    }
    this.queue.add(op);
    this.match();
    return op.handle;
  }

  find(name: string): OperationHandle | undefined {
    return this.operations.find(name, this.clock.now())?.handle;
  }

  addWorker(worker: ExecutionWorker): void {
    if (this.closed) throw unavailable(`scheduler "${this.name}" is stopping`);
    if (this.workers.has(worker.id)) throw invalidArgument(`worker "${worker.id}" is already registered with scheduler "${this.name}"`);
    if (!Number.isInteger(worker.slots) || worker.slots < 1) {
      throw invalidArgument(`worker "${worker.id}": slots must be a whole number >= 1, got ${worker.slots}`);
    }
    const total = capacityOf(worker.id, this.spec.supported_platform_properties, worker.properties);
    this.workers.set(worker.id, { worker, total, free: { ...total }, runs: new Set(), lastSeenMs: this.clock.now(), lastUsed: 0 });
    this.match();
  }

  removeWorker(id: string): void {
    const entry = this.workers.get(id);
    if (entry !== undefined) this.dropWorker(entry, 'removed from the scheduler');
  }

  /**
   * Checks every deadline: silent workers (worker_timeout_s), runs without an
   * update (max_action_executing_timeout_s), unwatched operations
   * (client_action_timeout_s), actions waiting with no worker at all, and
   * retention (retain_completed_for_s). Runs on a timer; tests call it after
   * moving their clock.
   */
  sweep(): void {
    if (this.closed) return;
    try {
      const now = this.clock.now();
      this.dropSilentWorkers(now);
      this.timeOutStuckRuns(now);
      this.cancelUnwatched(now);
      this.failWithoutWorkers(now);
      this.operations.forgetExpired(now);
      this.match();
    } catch (err) {
      this.logger.error(`scheduler "${this.name}": sweep failed: ${errorMessage(err)}`);
    }
  }

  snapshot(): SchedulerSnapshot {
    const now = this.clock.now();
    const ops = this.operations.all();
    const counters: SchedulerCounters = {
      ...this.counts,
      queueWaitMs: this.queueWait.values(),
      executionMs: this.execution.values(),
      queueWaitTotals: this.queueWait.totals,
      executionTotals: this.execution.totals,
    };
    return {
      name: this.name,
      workers: [...this.workers.values()].map((w) => ({
        id: w.worker.id,
        properties: w.worker.properties,
        slots: w.worker.slots,
        running: [...w.runs].map((r) => r.operation.name),
        available: { ...w.free },
        lastSeenMs: w.lastSeenMs,
      })),
      queued: [...this.queue].map((op) => op.state()),
      executing: ops.filter((op) => op.stage === 'executing').map((op) => op.state()),
      recent: this.operations.recent(now).map((op) => op.state()),
      counters,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const op of this.operations.all()) {
      if (op.stage !== 'completed') this.giveUp(op, failedOutcome(Code.UNAVAILABLE, `daemon stopping: scheduler "${this.name}" cancelled the action`));
    }
    const workers = [...this.workers.values()];
    this.workers.clear();
    const closing = await Promise.allSettled(workers.map((w) => w.worker.close?.()));
    closing.forEach((result, i) => {
      if (result.status === 'rejected') this.logger.warn(`worker "${workers[i]?.worker.id}" failed to close: ${errorMessage(result.reason)}`);
    });
  }

  // ---- matching ----

  /** Hands queued operations to free workers, in queue order; re-entrant calls (a watcher submitting) loop instead of nesting. */
  private match(): void {
    if (this.matching) {
      this.matchAgain = true;
      return;
    }
    this.matching = true;
    try {
      do {
        this.matchAgain = false;
        this.matchOnce();
      } while (this.matchAgain && !this.closed);
    } finally {
      this.matching = false;
    }
  }

  private matchOnce(): void {
    if (this.queue.size === 0 || !this.anyFreeSlot()) return; // mid-build, the usual case: every slot busy
    let waiting: Operation | undefined;
    for (const op of this.queue) {
      if (!this.anyFreeSlot()) return;
      if (!this.queue.has(op)) continue;
      const worker = this.pickWorker(op);
      if (worker === undefined) waiting ??= op;
      else this.start(op, worker);
    }
    if (waiting !== undefined && this.anyFreeSlot()) {
      // Normal while minimum properties pack workers full; worth a line now and then, not a warning.
      this.logMatchProblem('info', `action ${formatDigest(waiting.actionDigest)} waits: no worker with a free slot has the free platform properties it needs`);
    }
  }

  private anyFreeSlot(): boolean {
    for (const w of this.workers.values()) if (w.runs.size < w.worker.slots) return true;
    return false;
  }

  /** Among workers with a free slot that fit now: the most preferred (priority properties), then by allocation_strategy. */
  private pickWorker(op: Operation): WorkerEntry | undefined {
    let best: WorkerEntry | undefined;
    let bestScore = -1;
    for (const w of this.workers.values()) {
      if (w.runs.size >= w.worker.slots || !fitsNow(op.requirements, w.worker.properties, w.free)) continue;
      const score = preference(op.requirements, w.worker.properties);
      if (best === undefined || score > bestScore || (score === bestScore && this.preferByStrategy(w, best))) {
        best = w;
        bestScore = score;
      }
    }
    return best;
  }

  private preferByStrategy(candidate: WorkerEntry, current: WorkerEntry): boolean {
    return this.spec.allocation_strategy === 'most_recently_used' ? candidate.lastUsed > current.lastUsed : candidate.lastUsed < current.lastUsed;
  }

  private start(op: Operation, entry: WorkerEntry): void {
    const now = this.clock.now();
    this.queue.delete(op);
    const run: Run = { operation: op, workerId: entry.worker.id, controller: new AbortController(), startedAtMs: now, lastUpdateMs: now };
    op.run = run;
    op.stage = 'executing';
    op.worker = entry.worker.id;
    op.workerStage = undefined;
    op.startedAtMs = now;
    entry.runs.add(run);
    adjust(entry.free, op.requirements, -1);
    entry.lastUsed = ++this.uses;
    entry.lastSeenMs = Math.max(entry.lastSeenMs, now);
    this.queueWait.add(now - op.enqueuedAtMs);
    op.notify();
    if (op.run !== run) {
      // A watcher's reaction already ended this run; the worker never saw it, so nothing else gives the slot back.
      this.release(run);
      return;
    }

    const job = op.job();
    const control: RunControl = {
      signal: run.controller.signal,
      onStage: (stage) => this.onStage(run, stage),
      keepAlive: () => this.onKeepAlive(run),
    };
    let pending: Promise<JobOutcome>;
    try {
      pending = entry.worker.run(job, control);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending
      .then(
        (outcome) => this.onOutcome(run, outcome),
        (err: unknown) => this.onRejected(run, err),
      )
      // A throw here is a scheduler bug; logged, it must not crash the daemon as an unhandled rejection.
      .catch((err: unknown) => this.logger.error(`scheduler "${this.name}": handling the end of ${op.name} failed: ${errorMessage(err)}`));
  }

  // ---- what workers report ----

  private onStage(run: Run, stage: WorkerStage): void {
    const now = this.clock.now();
    this.seen(run, now);
    const op = run.operation;
    if (op.run !== run) return;
    run.lastUpdateMs = now;
    op.workerStage = stage;
    op.notify();
  }

  private onKeepAlive(run: Run): void {
    this.seen(run, this.clock.now());
  }

  private seen(run: Run, now: number): void {
    const entry = this.workers.get(run.workerId);
    if (entry !== undefined && entry.runs.has(run)) entry.lastSeenMs = now;
  }

  private onOutcome(run: Run, outcome: JobOutcome): void {
    const now = this.clock.now();
    this.seen(run, now);
    this.release(run);
    const op = run.operation;
    if (op.run === run) {
      op.run = undefined;
      this.execution.add(now - run.startedAtMs);
      if (wellFormed(outcome)) this.complete(op, outcome);
      else this.complete(op, failedOutcome(Code.INTERNAL, `worker "${run.workerId}" answered without an ActionResult and a status`));
    }
    this.match();
  }

  private onRejected(run: Run, err: unknown): void {
    this.release(run);
    const op = run.operation;
    if (op.run === run) {
      op.run = undefined;
      if (err instanceof WorkerLostError) {
        this.lost(op, run.workerId, errorMessage(err));
      } else {
        // Not a lost worker and not our abort: a bug in the worker. Fail the operation rather than leave its watchers hanging.
        this.logger.error(`scheduler "${this.name}": worker "${run.workerId}" failed running ${op.name}: ${errorMessage(err)}`, {
          stack: err instanceof Error ? err.stack : undefined,
        });
        this.complete(op, failedOutcome(Code.INTERNAL, `worker "${run.workerId}" failed while running the action: ${errorMessage(err)}`));
      }
    }
    this.match();
  }

  /** Gives the run's slot and `minimum` amounts back to its worker (once; not at all when the worker is gone). */
  private release(run: Run): void {
    const entry = this.workers.get(run.workerId);
    if (entry !== undefined && entry.runs.delete(run)) adjust(entry.free, run.operation.requirements, 1);
  }

  // ---- endings ----

  /** A worker failed the operation without running it to its end: hand it out again, up to max_job_retries. */
  private lost(op: Operation, workerId: string, reason: string): void {
    if (op.attempt < this.spec.max_job_retries) {
      op.attempt++;
      this.counts.retried++;
      this.logger.warn(`scheduler "${this.name}": worker "${workerId}" lost ${op.name} (${reason}); re-queued, attempt ${op.attempt + 1}`);
      op.stage = 'queued';
      op.worker = undefined;
      op.workerStage = undefined;
      op.startedAtMs = undefined;
      op.enqueuedAtMs = this.clock.now();
      this.queue.add(op);
      op.notify();
      return;
    }
    const attempts = op.attempt + 1;
    this.complete(
      op,
      failedOutcome(
        Code.UNAVAILABLE,
        `worker "${workerId}" was lost while running the action (${reason}); gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} (max_job_retries: ${this.spec.max_job_retries})`,
      ),
    );
  }

  /** Ends the operation whatever it is doing: aborts its run, takes it out of the queue. */
  private giveUp(op: Operation, outcome: JobOutcome): void {
    const run = op.run;
    op.run = undefined;
    run?.controller.abort(ABORT(outcome.message ?? 'cancelled'));
    this.complete(op, outcome);
  }

  private complete(op: Operation, outcome: JobOutcome): void {
    if (op.stage === 'completed') return;
    this.queue.delete(op);
    op.finish(outcome, this.clock.now());
    this.operations.completed(op);
    this.counts.completed++;
    if (isFailure(outcome)) this.counts.failed++;
    op.notify();
  }

  private dropWorker(entry: WorkerEntry, reason: string): void {
    const id = entry.worker.id;
    this.workers.delete(id);
    if (this.workers.size === 0) this.noWorkersSinceMs = this.clock.now();
    const runs = [...entry.runs];
    entry.runs.clear();
    for (const run of runs) {
      const op = run.operation;
      run.controller.abort(ABORT(`worker "${id}" ${reason}`));
      if (op.run === run) {
        op.run = undefined;
        this.lost(op, id, reason);
      }
    }
    this.failUnsatisfiable();
    this.match();
  }

  /** After a worker left: queued operations no remaining worker could ever run fail now rather than wait forever. */
  private failUnsatisfiable(): void {
    if (this.workers.size === 0) return; // the no-worker wait applies instead
    const workers = [...this.workers.values()];
    for (const op of this.queue) {
      if (workers.some((w) => neverMeets(op.requirements, w.worker.properties, w.total) === undefined)) continue;
      try {
        assertSatisfiable(this.name, op.requirements, workers.map((w) => ({ properties: w.worker.properties, total: w.total })));
      } catch (err) {
        this.complete(op, failedOutcome(Code.FAILED_PRECONDITION, errorMessage(err)));
      }
    }
  }

  // ---- deadlines ----

  private dropSilentWorkers(now: number): void {
    const limitMs = this.spec.worker_timeout_s * 1000;
    for (const entry of [...this.workers.values()]) {
      if (entry.worker.keepAliveMs === undefined || entry.runs.size === 0) continue;
      if (now - entry.lastSeenMs > limitMs) {
        this.logger.warn(`scheduler "${this.name}": worker "${entry.worker.id}" sent no keep-alive for ${this.spec.worker_timeout_s}s (worker_timeout_s); removing it`);
        this.dropWorker(entry, `sent no keep-alive for ${this.spec.worker_timeout_s}s (worker_timeout_s)`);
      }
    }
  }

  /** NativeLink's max_action_executing_timeout_s: a run with no worker update for that long is aborted and re-queued like a lost worker's. */
  private timeOutStuckRuns(now: number): void {
    const limitS = this.spec.max_action_executing_timeout_s ?? 0;
    if (limitS <= 0) return;
    for (const entry of [...this.workers.values()]) {
      for (const run of [...entry.runs]) {
        const op = run.operation;
        if (op.run !== run || now - run.lastUpdateMs <= limitS * 1000) continue;
        const reason = `no update for ${limitS}s (max_action_executing_timeout_s)`;
        op.run = undefined;
        run.controller.abort(ABORT(`scheduler "${this.name}": ${reason}`));
        // The slot comes back when the worker's run settles after the abort.
        this.lost(op, run.workerId, reason);
      }
    }
  }

  private cancelUnwatched(now: number): void {
    for (const op of this.operations.unwatched(now, this.spec.client_action_timeout_s * 1000)) {
      this.giveUp(
        op,
        failedOutcome(Code.UNAVAILABLE, `no client watched ${op.name} for ${this.spec.client_action_timeout_s}s (client_action_timeout_s): cancelled`),
      );
    }
  }

  /** With no worker at all, an action waits at most worker_timeout_s for one, then fails with how to add one. */
  private failWithoutWorkers(now: number): void {
    if (this.workers.size > 0 || this.queue.size === 0) return;
    const waitS = this.spec.worker_timeout_s;
    this.logMatchProblem('warn', `scheduler "${this.name}" has ${this.queue.size} queued action(s) and no workers`);
    for (const op of this.queue) {
      if (now - Math.max(op.enqueuedAtMs, this.noWorkersSinceMs) < waitS * 1000) continue;
      this.complete(
        op,
        failedOutcome(
          Code.FAILED_PRECONDITION,
          `scheduler "${this.name}" has no workers, so nothing can run this action (waited ${waitS}s for one). ` +
            'Add a worker to the config: workers: [{ local: { worker_api_endpoint, cas_fast_slow_store, work_directory, ... } }], ' +
            'or run `ncache init --exec` to write a config with one',
        ),
      );
    }
  }

  private logMatchProblem(level: 'info' | 'warn', message: string): void {
    const everyS = this.spec.worker_match_logging_interval_s ?? 10;
    if (everyS < 0) return;
    const now = this.clock.now();
    if (now - this.lastMatchLogMs < everyS * 1000) return;
    this.lastMatchLogMs = now;
    this.logger[level](message);
  }
}

/**
 * NativeLink reads 0 for worker_timeout_s, client_action_timeout_s,
 * retain_completed_for_s and max_job_retries as "the default" (its config
 * fields default to 0), so a NativeLink config meaning "default" gets it here
 * too rather than timing every worker out at once.
 */
function withNativeLinkZeros(spec: SimpleSchedulerSpec): SimpleSchedulerSpec {
  const d = SIMPLE_SCHEDULER_DEFAULTS;
  return {
    ...spec,
    worker_timeout_s: spec.worker_timeout_s || d.worker_timeout_s,
    client_action_timeout_s: spec.client_action_timeout_s || d.client_action_timeout_s,
    retain_completed_for_s: spec.retain_completed_for_s || d.retain_completed_for_s,
    max_job_retries: spec.max_job_retries || d.max_job_retries,
  };
}

/** A worker's outcome as the type promises it; a remote or buggy worker may break the promise. */
function wellFormed(outcome: JobOutcome | null | undefined): outcome is JobOutcome {
  return typeof outcome === 'object' && outcome !== null && typeof outcome.result === 'object' && outcome.result !== null && typeof outcome.status?.code === 'number';
}

export type { OperationState };
