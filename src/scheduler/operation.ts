// One operation inside the simple scheduler: what was asked, where it is, who
// watches it. Every submitter of an identical action shares one Operation (and
// its handle). The scheduler moves it between stages; this file only keeps
// the state and tells the watchers.
import type { Digest } from '../util/digest.js';
import { internal } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { Job, JobOutcome, JobRequest, WorkerStage } from './job.js';
import type { Requirements } from './platform-match.js';
import type { OperationHandle, OperationStage, OperationState } from './scheduler.js';
import type { QueueEntry } from './action-queue.js';
import { OperationWatchers, operationState } from './operation-watchers.js';

/** One hand-out of an operation to a worker. */
export interface Run {
  readonly operation: Operation;
  readonly workerId: string;
  readonly controller: AbortController;
  readonly startedAtMs: number;
  /** Hand-out or the worker's last stage report (max_action_executing_timeout_s). */
  lastUpdateMs: number;
}

export class Operation implements QueueEntry {
  stage: OperationStage = 'queued';
  workerStage: WorkerStage | undefined;
  worker: string | undefined;
  startedAtMs: number | undefined;
  completedAtMs: number | undefined;
  outcome: JobOutcome | undefined;
  /** When it last entered the queue (queue-wait samples, the no-worker wait). */
  enqueuedAtMs: number;
  /** Hand-outs before the current one that a lost worker undid. */
  attempt = 0;
  /** The hand-out the operation is waiting on; undefined while queued or once given up. */
  run: Run | undefined;
  readonly handle: OperationHandle;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly priority: number;
  private request: JobRequest | undefined;
  private readonly watchers: OperationWatchers;

  constructor(
    readonly name: string,
    request: JobRequest,
    readonly requirements: Requirements,
    /** Identical in-flight actions share this key; undefined for do_not_cache actions. */
    readonly mergeKey: string | undefined,
    readonly sequence: number,
    readonly queuedAtMs: number,
    now: () => number,
    logger: Logger,
  ) {
    this.request = request;
    this.instanceName = request.instanceName;
    this.actionDigest = request.actionDigest;
    this.priority = request.priority;
    this.enqueuedAtMs = queuedAtMs;
    this.watchers = new OperationWatchers(name, queuedAtMs, now, logger);
    this.handle = { name, current: () => this.state(), watch: (listener) => this.watchers.add(listener) };
  }

  /** What the worker is given for the next hand-out; only while not completed. */
  job(): Job {
    if (this.request === undefined) throw internal(`operation ${this.name} is completed and has no job to hand out`);
    return { ...this.request, operationName: this.name, queuedAtMs: this.queuedAtMs, attempt: this.attempt };
  }

  /** Completion: the outcome is all a retained operation needs, so the Action and Command (often large) are let go. */
  finish(outcome: JobOutcome, now: number): void {
    this.stage = 'completed';
    this.workerStage = undefined;
    this.outcome = outcome;
    this.completedAtMs = now;
    this.request = undefined;
  }

  get watched(): boolean {
    return this.watchers.any;
  }

  /** Since when nobody watches (client_action_timeout_s); undefined while watched. */
  get unwatchedSinceMs(): number | undefined {
    return this.watchers.unwatchedSinceMs;
  }

  state(): OperationState {
    const { name, instanceName, actionDigest, stage, queuedAtMs, workerStage, worker, startedAtMs, completedAtMs, outcome } = this;
    return operationState({ name, instanceName, actionDigest, stage, queuedAtMs, workerStage, worker, startedAtMs, completedAtMs, outcome });
  }

  /** Tells every watcher the current state; after completion there is nothing more to tell, so they are let go. */
  notify(): void {
    this.watchers.tell(this.state());
  }
}
