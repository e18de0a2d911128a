// The operations a scheduler knows by name, which of them identical actions
// join while in flight (the merge key: instance name and action digest;
// do_not_cache actions never merge), and how long completed ones stay
// findable (retain_completed_for_s). Shared by the simple and the grpc
// scheduler, which differ in how an operation runs, not in how it is kept.
import { digestKey } from '../util/digest.js';
import type { JobRequest } from './job.js';
import type { OperationHandle, OperationStage } from './scheduler.js';

/** One key per action and instance name: what identical requests share. */
export function actionKey(request: JobRequest): string {
  return `${request.instanceName}\u0000${digestKey(request.actionDigest)}`;
}

export interface BookedOperation {
  readonly name: string;
  readonly mergeKey: string | undefined;
  readonly handle: OperationHandle;
  readonly stage: OperationStage;
  readonly completedAtMs: number | undefined;
  readonly unwatchedSinceMs: number | undefined;
}

export class OperationBook<T extends BookedOperation> {
  /** Queued, executing and retained operations by name. */
  private readonly byName = new Map<string, T>();
  /** Queued or executing operations by merge key. */
  private readonly inFlight = new Map<string, T>();
  /** Retained completed operations, oldest first. */
  private retained: T[] = [];

  constructor(private readonly retainMs: number) {}

  /** What identical in-flight actions share; undefined for a do_not_cache action, which always runs on its own. */
  static mergeKeyOf(request: JobRequest): string | undefined {
    return request.action.doNotCache ? undefined : actionKey(request);
  }

  /** The in-flight operation an identical action joins (joined), or a new one `create` makes for its merge key, now kept here. */
  joinOrAdd(request: JobRequest, create: (mergeKey: string | undefined) => T): { op: T; joined: boolean } {
    const mergeKey = OperationBook.mergeKeyOf(request);
    const existing = mergeKey === undefined ? undefined : this.inFlight.get(mergeKey);
    if (existing !== undefined) return { op: existing, joined: true };
    const op = create(mergeKey);
    this.byName.set(op.name, op);
    if (mergeKey !== undefined) this.inFlight.set(mergeKey, op);
    return { op, joined: false };
  }

  /** By name, unless it completed longer ago than it is retained. */
  find(name: string, nowMs: number): T | undefined {
    const op = this.byName.get(name);
    return op === undefined || this.expired(op, nowMs) ? undefined : op;
  }

  /** Every operation known, retained ones included. */
  all(): T[] {
    return [...this.byName.values()];
  }

  /** A completed operation: identical actions no longer join it; it stays findable while retained. */
  completed(op: T): void {
    if (op.mergeKey !== undefined && this.inFlight.get(op.mergeKey) === op) this.inFlight.delete(op.mergeKey);
    this.retained.push(op);
  }

  /** Retained operations still findable, newest first. */
  recent(nowMs: number): T[] {
    return this.retained.filter((op) => !this.expired(op, nowMs)).reverse();
  }

  /** Not completed, and nobody has watched them for longer than limitMs. */
  unwatched(nowMs: number, limitMs: number): T[] {
    return this.all().filter((op) => op.stage !== 'completed' && op.unwatchedSinceMs !== undefined && nowMs - op.unwatchedSinceMs > limitMs);
  }

  forgetExpired(nowMs: number): void {
    const keep: T[] = [];
    for (const op of this.retained) {
      if (this.expired(op, nowMs)) this.byName.delete(op.name);
      else keep.push(op);
    }
    this.retained = keep;
  }

  private expired(op: T, nowMs: number): boolean {
    return op.completedAtMs !== undefined && nowMs - op.completedAtMs >= this.retainMs;
  }
}
