// What every kind of operation (a simple scheduler's, a forwarded one) does
// for the clients watching it: keeps the listeners, tells them each state
// (one throwing listener does not stop the others), lets them go once the
// operation completed, and remembers since when nobody watches
// (client_action_timeout_s cancels such an operation).
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { OperationState } from './scheduler.js';

type Listener = (state: OperationState) => void;
type Writable<T> = { -readonly [K in keyof T]: T[K] };

export class OperationWatchers {
  /** Since when nobody watches; undefined while watched. */
  unwatchedSinceMs: number | undefined;
  private readonly listeners = new Set<Listener>();
  private completed = false;

  constructor(
    private readonly operationName: string,
    createdAtMs: number,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {
    this.unwatchedSinceMs = createdAtMs;
  }

  get any(): boolean {
    return this.listeners.size > 0;
  }

  /** Adds a watcher; returns how it stops watching. A completed operation has nothing more to tell. */
  add(listener: Listener): () => void {
    if (this.completed) return () => {};
    this.listeners.add(listener);
    this.unwatchedSinceMs = undefined;
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.unwatchedSinceMs = this.now();
    };
  }

  /** Tells every watcher the state; a completed state is the last, so they are let go. */
  tell(state: OperationState): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(state);
      } catch (err) {
        this.logger.error(`a watcher of operation ${this.operationName} threw: ${errorMessage(err)}`);
      }
    }
    if (state.stage === 'completed') {
      this.completed = true;
      this.listeners.clear();
    }
  }
}

/** An operation's state as watchers get it: the optional fields only where known (JSON and snapshots show no empty keys). */
export function operationState(state: OperationState): OperationState {
  const shown: Writable<OperationState> = {
    name: state.name,
    instanceName: state.instanceName,
    actionDigest: state.actionDigest,
    stage: state.stage,
    queuedAtMs: state.queuedAtMs,
  };
  if (state.workerStage !== undefined) shown.workerStage = state.workerStage;
  if (state.worker !== undefined) shown.worker = state.worker;
  if (state.startedAtMs !== undefined) shown.startedAtMs = state.startedAtMs;
  if (state.completedAtMs !== undefined) shown.completedAtMs = state.completedAtMs;
  if (state.outcome !== undefined) shown.outcome = state.outcome;
  return shown;
}
