// An operation a wrapping scheduler hands out before it knows who answers it
// (a `cache_lookup` still looking): its own name and state until it either
// completes by itself (a hit, an error) or follows an operation of the nested
// scheduler, whose states its watchers then see under this operation's name.
// While following, each of its watchers watches the nested operation, so the
// nested scheduler sees exactly the clients that are there
// (client_action_timeout_s).
import type { Digest } from '../util/digest.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { JobOutcome } from './job.js';
import type { OperationHandle, OperationState } from './scheduler.js';

type Listener = (state: OperationState) => void;

export class RelayOperation {
  readonly handle: OperationHandle;
  private inner: OperationHandle | undefined;
  private done: OperationState | undefined;
  /** Each watcher, and its subscription to the followed operation once there is one. */
  private readonly listeners = new Map<Listener, (() => void) | undefined>();

  constructor(
    readonly name: string,
    private readonly instanceName: string,
    private readonly actionDigest: Digest,
    private readonly queuedAtMs: number,
    private readonly logger: Logger,
  ) {
    this.handle = { name, current: () => this.current(), watch: (listener) => this.watch(listener) };
  }

  current(): OperationState {
    if (this.done !== undefined) return this.done;
    if (this.inner !== undefined) return { ...this.inner.current(), name: this.name };
    return { name: this.name, instanceName: this.instanceName, actionDigest: this.actionDigest, stage: 'queued', queuedAtMs: this.queuedAtMs };
  }

  get settled(): boolean {
    return this.done !== undefined || this.inner !== undefined;
  }

  /** From now on, the nested operation's states are this one's. */
  follow(inner: OperationHandle): void {
    if (this.settled) return;
    this.inner = inner;
    for (const listener of [...this.listeners.keys()]) {
      this.tell(listener, this.current());
      if (this.listeners.has(listener)) this.listeners.set(listener, this.subscribe(listener, inner));
    }
  }

  /** Completes without a nested operation. */
  finish(outcome: JobOutcome, nowMs: number): void {
    if (this.settled) return;
    this.done = { ...this.current(), stage: 'completed', completedAtMs: nowMs, outcome };
    const listeners = [...this.listeners.keys()];
    this.listeners.clear();
    for (const listener of listeners) this.tell(listener, this.done);
  }

  private watch(listener: Listener): () => void {
    if (this.done !== undefined) return () => {};
    this.listeners.set(listener, this.inner === undefined ? undefined : this.subscribe(listener, this.inner));
    return () => {
      this.listeners.get(listener)?.();
      this.listeners.delete(listener);
    };
  }

  private subscribe(listener: Listener, inner: OperationHandle): () => void {
    return inner.watch((state) => this.tell(listener, { ...state, name: this.name }));
  }

  private tell(listener: Listener, state: OperationState): void {
    try {
      listener(state);
    } catch (err) {
      this.logger.error(`a watcher of operation ${this.name} threw: ${errorMessage(err)}`);
    }
  }
}
