// One operation of a `grpc` scheduler: a local name and state that mirror an
// operation running on the upstream, and the watchers of that state. Every
// local submitter of an identical action shares one ForwardedOperation, so
// one upstream Execute serves them all. The scheduler moves it between
// stages; this file only keeps the state and tells the watchers.
import type { Digest } from '../util/digest.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { JobOutcome, JobRequest } from './job.js';
import type { OperationHandle, OperationStage, OperationState } from './scheduler.js';

type Listener = (state: OperationState) => void;

export class ForwardedOperation {
  stage: OperationStage = 'queued';
  /** The upstream's name for it, once the upstream has answered (what WaitExecution asks for after a drop). */
  upstreamName: string | undefined;
  startedAtMs: number | undefined;
  completedAtMs: number | undefined;
  outcome: JobOutcome | undefined;
  /** Since when nobody watches; undefined while watched. */
  unwatchedSinceMs: number | undefined;
  /** Aborted when the scheduler gives up on it (close, or no client left): stops the upstream call. */
  readonly controller = new AbortController();
  readonly handle: OperationHandle;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  private readonly listeners = new Set<Listener>();

  constructor(
    readonly name: string,
    readonly request: JobRequest,
    /** Identical in-flight actions share this key; undefined for do_not_cache actions. */
    readonly mergeKey: string | undefined,
    readonly queuedAtMs: number,
    /** Shown as the operation's worker: where it runs. */
    private readonly upstream: string,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {
    this.unwatchedSinceMs = queuedAtMs;
    this.instanceName = request.instanceName;
    this.actionDigest = request.actionDigest;
    this.handle = { name, current: () => this.state(), watch: (listener) => this.watch(listener) };
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
    if (this.stage !== 'queued') state.worker = this.upstream;
    if (this.startedAtMs !== undefined) state.startedAtMs = this.startedAtMs;
    if (this.completedAtMs !== undefined) state.completedAtMs = this.completedAtMs;
    if (this.outcome !== undefined) state.outcome = this.outcome;
    return state;
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
    this.listeners.clear();
  }

  private notify(): void {
    const state = this.state();
    for (const listener of [...this.listeners]) {
      try {
        listener(state);
      } catch (err) {
        this.logger.error(`a watcher of operation ${this.name} threw: ${errorMessage(err)}`);
      }
    }
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
