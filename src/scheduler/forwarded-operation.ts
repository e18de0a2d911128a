// One operation of a `grpc` scheduler: a local name and state that mirror an
// operation running on the upstream, and the watchers of that state. Every
// local submitter of an identical action shares one ForwardedOperation, so
// one upstream Execute serves them all. The scheduler moves it between
// stages; this file only keeps the state and tells the watchers.
import type { Digest } from '../util/digest.js';
import type { Logger } from '../util/logger.js';
import type { JobOutcome, JobRequest } from './job.js';
import { OperationWatchers, operationState } from './operation-watchers.js';
import type { OperationHandle, OperationStage, OperationState } from './scheduler.js';

export class ForwardedOperation {
  stage: OperationStage = 'queued';
  /** The upstream's name for it, once the upstream has answered (what WaitExecution asks for after a drop). */
  upstreamName: string | undefined;
  startedAtMs: number | undefined;
  completedAtMs: number | undefined;
  outcome: JobOutcome | undefined;
  /** Aborted when the scheduler gives up on it (close, or no client left): stops the upstream call. */
  readonly controller = new AbortController();
  readonly handle: OperationHandle;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  private readonly watchers: OperationWatchers;

  constructor(
    readonly name: string,
    readonly request: JobRequest,
    /** Identical in-flight actions share this key; undefined for do_not_cache actions. */
    readonly mergeKey: string | undefined,
    readonly queuedAtMs: number,
    /** Shown as the operation's worker: where it runs. */
    private readonly upstream: string,
    now: () => number,
    logger: Logger,
  ) {
    this.instanceName = request.instanceName;
    this.actionDigest = request.actionDigest;
    this.watchers = new OperationWatchers(name, queuedAtMs, now, logger);
    this.handle = { name, current: () => this.state(), watch: (listener) => this.watchers.add(listener) };
  }

  get watched(): boolean {
    return this.watchers.any;
  }

  /** Since when nobody watches; undefined while watched. */
  get unwatchedSinceMs(): number | undefined {
    return this.watchers.unwatchedSinceMs;
  }

  state(): OperationState {
    const { name, instanceName, actionDigest, stage, queuedAtMs, startedAtMs, completedAtMs, outcome } = this;
    const worker = stage === 'queued' ? undefined : this.upstream;
    return operationState({ name, instanceName, actionDigest, stage, queuedAtMs, worker, startedAtMs, completedAtMs, outcome });
  }

  /** The upstream reported a stage; watchers hear of a change only. */
  moveTo(stage: 'queued' | 'executing', nowMs: number): void {
    if (this.stage === 'completed' || this.stage === stage) return;
    this.stage = stage;
    if (stage === 'executing') this.startedAtMs ??= nowMs;
    this.notify();
  }

  finish(outcome: JobOutcome, nowMs: number): void {
    if (this.stage === 'completed') return;
    this.stage = 'completed';
    this.outcome = outcome;
    this.completedAtMs = nowMs;
    this.notify();
  }

  private notify(): void {
    this.watchers.tell(this.state());
  }
}
