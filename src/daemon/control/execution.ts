// What `status`, `stats` and `ops` say about remote execution, read from each
// scheduler's snapshot (src/scheduler/scheduler.ts): no method reaches into a
// scheduler's state, and one snapshot per scheduler per answer keeps the
// numbers of one answer consistent with each other.
import type { PlatformProperties } from '../../scheduler/job.js';
import type { OperationStage, OperationState, Scheduler, SchedulerSnapshot } from '../../scheduler/scheduler.js';
import { formatDigest } from '../../util/digest.js';
import { GRPC_CODE_NAMES } from '../metrics.js';
import { type Percentiles, percentiles } from './percentiles.js';

/** One worker as `ncache status` shows it. */
export interface WorkerStatus {
  readonly id: string;
  readonly properties: PlatformProperties;
  /** Actions it runs at once. */
  readonly slots: number;
  readonly running: readonly RunningAction[];
  /** What is still free of its `minimum` properties (cpu_count, ...). */
  readonly available: Readonly<Record<string, number>>;
  /** Milliseconds since the scheduler last heard from it. */
  readonly lastSeenAgoMs: number;
}

export interface RunningAction {
  readonly operation: string;
  /** "hash/size". */
  readonly actionDigest: string;
  /** fetching_inputs, executing or uploading_outputs; null before the worker reports. */
  readonly workerStage: string | null;
  readonly runningForMs: number | null;
}

export interface SchedulerStatus {
  readonly name: string;
  /** The config kinds, outermost first: ["simple"], ["cache_lookup", "grpc"]. */
  readonly kinds: readonly string[];
  /** Actions waiting for a worker (for a grpc scheduler: queued upstream, or waiting for a connection slot). */
  readonly queued: number;
  readonly executing: number;
  readonly workers: readonly WorkerStatus[];
  /** A grpc scheduler: where its actions run, and the ones running there now; null otherwise. */
  readonly upstream: UpstreamStatus | null;
}

export interface UpstreamStatus {
  readonly address: string;
  readonly running: readonly RunningAction[];
}

/** One scheduler's numbers for `ncache stats`. */
export interface SchedulerStats {
  readonly name: string;
  readonly workers: number;
  readonly slots: number;
  readonly queued: number;
  readonly executing: number;
  readonly submitted: number;
  /** Requests joined to an identical action already in flight. */
  readonly merged: number;
  readonly completed: number;
  /** Completed with a non-OK status or a non-zero exit code. */
  readonly failed: number;
  readonly retried: number;
  /** Queued to started, of recent actions. */
  readonly queueWaitMs: Percentiles;
  /** Started to completed, of recent actions. */
  readonly executionMs: Percentiles;
}

/** One operation as `ncache ops` lists it. */
export interface OperationRow {
  readonly scheduler: string;
  readonly name: string;
  readonly instanceName: string;
  /** "hash/size". */
  readonly actionDigest: string;
  readonly stage: OperationStage;
  readonly workerStage: string | null;
  readonly worker: string | null;
  /** ISO 8601. */
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  /** Queued to started (to now while queued). */
  readonly queueWaitMs: number;
  /** Started to completed (to now while executing); null before it started. */
  readonly executionMs: number | null;
  /** Set once completed. */
  readonly result: OperationResult | null;
}

export interface OperationResult {
  /** The gRPC status name of ExecuteResponse.status ("OK", "DEADLINE_EXCEEDED", ...). */
  readonly status: string;
  readonly exitCode: number;
  readonly message: string | null;
}

export function snapshots(schedulers: ReadonlyMap<string, Scheduler>): SchedulerSnapshot[] {
  return [...schedulers.values()].map((s) => s.snapshot());
}

export function schedulerStatus(snap: SchedulerSnapshot, nowMs: number): SchedulerStatus {
  const executing = new Map(snap.executing.map((op) => [op.name, op]));
  return {
    name: snap.name,
    kinds: snap.kinds ?? ['simple'],
    queued: snap.queued.length,
    executing: snap.executing.length,
    upstream: snap.upstream === undefined ? null : { address: snap.upstream, running: snap.executing.map((op) => runningAction(op.name, op, nowMs)) },
    workers: snap.workers.map((w) => ({
      id: w.id,
      properties: w.properties,
      slots: w.slots,
      running: w.running.map((name) => runningAction(name, executing.get(name), nowMs)),
      available: w.available,
      lastSeenAgoMs: Math.max(0, nowMs - w.lastSeenMs),
    })),
  };
}

function runningAction(name: string, op: OperationState | undefined, nowMs: number): RunningAction {
  return {
    operation: name,
    actionDigest: op === undefined ? '' : formatDigest(op.actionDigest),
    workerStage: op?.workerStage ?? null,
    runningForMs: op?.startedAtMs === undefined ? null : Math.max(0, nowMs - op.startedAtMs),
  };
}

export function schedulerStats(snap: SchedulerSnapshot): SchedulerStats {
  const c = snap.counters;
  return {
    name: snap.name,
    workers: snap.workers.length,
    slots: snap.workers.reduce((n, w) => n + w.slots, 0),
    queued: snap.queued.length,
    executing: snap.executing.length,
    submitted: c.submitted,
    merged: c.merged,
    completed: c.completed,
    failed: c.failed,
    retried: c.retried,
    queueWaitMs: percentiles(c.queueWaitMs),
    executionMs: percentiles(c.executionMs),
  };
}

/** Executing first, then queued (in queue order), then completed ones, newest first. */
export function operationRows(snap: SchedulerSnapshot, nowMs: number): OperationRow[] {
  return [...snap.executing, ...snap.queued, ...snap.recent].map((op) => operationRow(snap.name, op, nowMs));
}

function operationRow(scheduler: string, op: OperationState, nowMs: number): OperationRow {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const outcome = op.outcome;
  return {
    scheduler,
    name: op.name,
    instanceName: op.instanceName,
    actionDigest: formatDigest(op.actionDigest),
    stage: op.stage,
    workerStage: op.workerStage ?? null,
    worker: op.worker ?? null,
    queuedAt: new Date(op.queuedAtMs).toISOString(),
    startedAt: iso(op.startedAtMs),
    completedAt: iso(op.completedAtMs),
    queueWaitMs: Math.max(0, (op.startedAtMs ?? op.completedAtMs ?? nowMs) - op.queuedAtMs),
    executionMs: op.startedAtMs === undefined ? null : Math.max(0, (op.completedAtMs ?? nowMs) - op.startedAtMs),
    result:
      outcome === undefined
        ? null
        : {
            status: GRPC_CODE_NAMES[outcome.status.code] ?? `code ${outcome.status.code}`,
            exitCode: outcome.result.exitCode,
            message: outcome.message ?? (outcome.status.message !== '' ? outcome.status.message : null),
          },
  };
}
