// One operation inside the simple scheduler: what was asked, where it is, who
// watches it. Every submitter of an identical action shares one Operation (and
// its handle). The scheduler moves it between stages; this file only keeps
// the state and tells the watchers.
import type { Digest } from '../util/digest.js';
import { errorMessage, internal } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { Job, JobOutcome, JobRequest, WorkerStage } from './job.js';
import type { Requirements } from './platform-match.js';
import type { OperationHandle, OperationStage, OperationState } from './scheduler.js';
import type { QueueEntry } from './action-queue.js';

type Listener = (state: OperationState) => void;

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
  /** Since when nobody watches (client_action_timeout_s); undefined while watched. */
  unwatchedSinceMs: number | undefined;
  readonly handle: OperationHandle;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly priority: number;
  private request: JobRequest | undefined;
  private readonly listeners = new Set<Listener>();

  constructor(
    readonly name: string,
    request: JobRequest,
    readonly requirements: Requirements,
    /** Identical in-flight actions share this key; undefined for do_not_cache actions. */
    readonly mergeKey: string | undefined,
    readonly sequence: number,
    readonly queuedAtMs: number,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {
    this.request = request;
    this.instanceName = request.instanceName;
    this.actionDigest = request.actionDigest;
    this.priority = request.priority;
    this.enqueuedAtMs = queuedAtMs;
    this.unwatchedSinceMs = queuedAtMs;
    this.handle = {
      name,
      current: () => this.state(),
      watch: (listener) => this.watch(listener),
    };
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
    return this.listeners.size > 0;
  }

  state(): OperationState {
    const state: { -readonly [K in keyof OperationState]: OperationState[K] } = {
      name: this.name,
      instanceName: this.instanceName,
      actionDigest: this.actionDigest,
      stage: this.stage,
      queuedAtMs: this.queuedAtMs,
    };
    if (this.workerStage !== undefined) state.workerStage = this.workerStage;
    if (this.worker !== undefined) state.worker = this.worker;
    if (this.startedAtMs !== undefined) state.startedAtMs = this.startedAtMs;
    if (this.completedAtMs !== undefined) state.completedAtMs = this.completedAtMs;
    if (this.outcome !== undefined) state.outcome = this.outcome;
    return state;
  }

  /** Tells every watcher the current state; after completion there is nothing more to tell, so they are let go. */
  notify(): void {
    const state = this.state();
    for (const listener of [...this.listeners]) {
      try {
        listener(state);
      } catch (err) {
        this.logger.error(`a watcher of operation ${this.name} threw: ${errorMessage(err)}`);
      }
    }
    if (this.stage === 'completed') this.listeners.clear();
  }

  private watch(listener: Listener): () => void {
    if (this.stage === 'completed') return () => {};
    this.listeners.add(listener);
    this.unwatchedSinceMs = undefined;
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.unwatchedSinceMs = this.now();
    };
  }
}
