// NativeLink's `grpc` scheduler: every action goes to an upstream Execution
// service (another ncache, NativeLink, Buildbarn, ...) and the upstream's
// operation stream is relayed as this scheduler's operation states
// (upstream-run.ts does one action's round trip). Identical actions in flight
// here share one upstream Execute. It runs nothing itself: addWorker is an
// error. An operation nobody watches for client_action_timeout (60 s, the
// simple scheduler's default) is cancelled upstream too.
import { randomUUID } from 'node:crypto';
import { SIMPLE_SCHEDULER_DEFAULTS } from '../config/schema-execution.js';
import type { StoreDriver } from '../stores/store.js';
import { type Clock, systemClock } from '../util/clock.js';
import { errorMessage, invalidArgument, unavailable } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { ForwardedOperation } from './forwarded-operation.js';
import type { ExecutionWorker, JobRequest } from './job.js';
import { OperationBook } from './operation-book.js';
import { Code, errorOutcome, failedOutcome, isFailure } from './outcomes.js';
import { RecentSamples } from './recent-samples.js';
import type { OperationHandle, Scheduler, SchedulerSnapshot } from './scheduler.js';
import { type UpstreamExecution, runUpstream } from './upstream-run.js';

export interface GrpcSchedulerOptions {
  name: string;
  upstream: UpstreamExecution;
  /** The upstream's CAS for an instance name (a `grpc` store over the same connection). */
  upstreamCas: (instanceName: string) => StoreDriver;
  logger?: Logger;
  clock?: Clock;
  /** How often unwatched operations are looked for (ms); 0 = only on `sweep()`. Default 1000. */
  sweepIntervalMs?: number;
}

const RETAIN_MS = SIMPLE_SCHEDULER_DEFAULTS.retain_completed_for_s * 1000;
const UNWATCHED_MS = SIMPLE_SCHEDULER_DEFAULTS.client_action_timeout_s * 1000;

export class GrpcScheduler implements Scheduler {
  readonly name: string;
  private readonly options: GrpcSchedulerOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly operations = new OperationBook<ForwardedOperation>(RETAIN_MS);
  private readonly counts = { submitted: 0, merged: 0, completed: 0, failed: 0, retried: 0 };
  private readonly queueWait = new RecentSamples();
  private readonly execution = new RecentSamples();
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: GrpcSchedulerOptions) {
    this.name = options.name;
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    const every = options.sweepIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweep(), every);
      this.timer.unref();
    }
  }

  /** Where actions run. */
  get upstreamAddress(): string {
    return this.options.upstream.address;
  }

  submit(request: JobRequest): OperationHandle {
    if (this.closed) throw unavailable(`scheduler "${this.name}" is stopping`);
    this.counts.submitted++;
    const now = () => this.clock.now();
    const { op, joined } = this.operations.joinOrAdd(
      request,
      (mergeKey) => new ForwardedOperation(`operations/${randomUUID()}`, request, mergeKey, now(), this.upstreamAddress, now, this.logger),
    );
    if (joined) this.counts.merged++;
    else this.forward(op);
    return op.handle;
  }

  find(name: string): OperationHandle | undefined {
    return this.operations.find(name, this.clock.now())?.handle;
  }

  addWorker(worker: ExecutionWorker): void {
    throw invalidArgument(
      `worker "${worker.id}" cannot serve scheduler "${this.name}": it is a grpc scheduler, which forwards every action to ${this.upstreamAddress} and runs none itself`,
    );
  }

  removeWorker(): void {
    // It has none.
  }

  /** Cancels operations no client has watched for a while, and forgets retained ones. */
  sweep(): void {
    const now = this.clock.now();
    this.operations.forgetExpired(now);
    for (const op of this.operations.unwatched(now, UNWATCHED_MS)) {
      this.complete(op, failedOutcome(Code.UNAVAILABLE, `no client watched ${op.name} for ${UNWATCHED_MS / 1000}s: cancelled here and upstream`));
    }
  }

  snapshot(): SchedulerSnapshot {
    const now = this.clock.now();
    const ops = this.operations.all();
    return {
      name: this.name,
      kinds: ['grpc'],
      upstream: this.upstreamAddress,
      workers: [],
      queued: ops.filter((op) => op.stage === 'queued').map((op) => op.state()),
      executing: ops.filter((op) => op.stage === 'executing').map((op) => op.state()),
      recent: this.operations.recent(now).map((op) => op.state()),
      counters: { ...this.counts, queueWaitMs: this.queueWait.values(), executionMs: this.execution.values() },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const op of this.operations.all()) {
      if (op.stage !== 'completed') this.complete(op, failedOutcome(Code.UNAVAILABLE, `daemon stopping: scheduler "${this.name}" cancelled the action`));
    }
    this.options.upstream.close();
  }

  private forward(op: ForwardedOperation): void {
    const { upstream, upstreamCas } = this.options;
    const hooks = {
      now: () => this.clock.now(),
      logger: this.logger,
      onRetry: () => this.counts.retried++,
    };
    runUpstream(op, { upstream, upstreamCas, schedulerName: this.name, ...hooks })
      .then(
        (outcome) => this.complete(op, outcome),
        (err: unknown) => this.complete(op, errorOutcome(err)),
      )
      .catch((err: unknown) => this.logger.error(`scheduler "${this.name}": finishing ${op.name} failed: ${errorMessage(err)}`));
  }

  private complete(op: ForwardedOperation, outcome: Parameters<ForwardedOperation['finish']>[0]): void {
    if (op.stage === 'completed') return;
    op.controller.abort();
    // Before finish tells the watchers: one that submits the same action again starts a new operation.
    this.operations.completed(op);
    const now = this.clock.now();
    if (op.startedAtMs !== undefined) {
      this.queueWait.add(op.startedAtMs - op.queuedAtMs);
      this.execution.add(now - op.startedAtMs);
    }
    this.counts.completed++;
    if (isFailure(outcome)) this.counts.failed++;
    op.finish(outcome, now);
  }
}
