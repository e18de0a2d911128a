// What the execution service, the daemon and the control socket ask of a
// scheduler. `simple` (src/scheduler/simple-scheduler.ts) queues and matches
// in process; `grpc` (grpc-scheduler.ts) forwards to an upstream Execution
// service; `cache_lookup` and `property_modifier` wrap another scheduler (the
// one nested in their config) and hand it what they do not answer themselves.
// Workers register with the innermost `simple`; the wrappers pass addWorker
// through, and `grpc` refuses it.
import type { LatencyHistogram } from '../daemon/metrics.js';
import type { Digest } from '../proto/reapi.js';
import type { ExecutionWorker, JobOutcome, JobRequest, PlatformProperties, WorkerStage } from './job.js';

export type OperationStage = 'queued' | 'executing' | 'completed';

/** One operation as its watchers see it. */
export interface OperationState {
  readonly name: string;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly stage: OperationStage;
  /** While executing: what the worker is doing. */
  readonly workerStage?: WorkerStage;
  /** The worker running it (or that ran it). */
  readonly worker?: string;
  readonly queuedAtMs: number;
  readonly startedAtMs?: number;
  readonly completedAtMs?: number;
  /** Set exactly when stage is 'completed'. */
  readonly outcome?: JobOutcome;
}

export interface OperationHandle {
  readonly name: string;
  current(): OperationState;
  /**
   * Calls `listener` on every change until completion (the completed state
   * included). While at least one listener is attached the client counts as
   * present (client_action_timeout_s). Returns the unsubscribe function.
   */
  watch(listener: (state: OperationState) => void): () => void;
}

export interface Scheduler {
  /** The config name (`schedulers[].name`). */
  readonly name: string;
  /**
   * Queues the action, or joins an identical one in flight (same instance and
   * action digest, neither do_not_cache). Throws NcacheError INVALID_ARGUMENT
   * for a platform property the scheduler does not support and
   * FAILED_PRECONDITION when no worker could ever run it, naming the property.
   */
  submit(request: JobRequest): OperationHandle;
  /** A queued, running or retained (retain_completed_for_s) operation; undefined when unknown or expired. */
  find(name: string): OperationHandle | undefined;
  addWorker(worker: ExecutionWorker): void;
  /** Its running actions are re-queued (up to max_job_retries) or fail with UNAVAILABLE. */
  removeWorker(id: string): void;
  snapshot(): SchedulerSnapshot;
  /** Fails every operation with UNAVAILABLE (watchers get it) and closes its workers (a wrapper closes what it wraps). */
  close(): Promise<void>;
}

/** For `ncache status`, `stats` and `ops`. */
export interface SchedulerSnapshot {
  readonly name: string;
  /** The config kinds, outermost first: ["cache_lookup", "grpc"]. Absent means ["simple"]. */
  readonly kinds?: readonly string[];
  /** A `grpc` scheduler's upstream address: its operations run there (workers is then empty). */
  readonly upstream?: string;
  readonly workers: readonly WorkerSnapshot[];
  readonly queued: readonly OperationState[];
  readonly executing: readonly OperationState[];
  /** Retained completed operations, newest first. */
  readonly recent: readonly OperationState[];
  readonly counters: SchedulerCounters;
}

export interface WorkerSnapshot {
  readonly id: string;
  readonly properties: PlatformProperties;
  readonly slots: number;
  /** Operation names it is running. */
  readonly running: readonly string[];
  /** Values of `minimum` properties still free. */
  readonly available: Readonly<Record<string, number>>;
  readonly lastSeenMs: number;
}

export interface SchedulerCounters {
  readonly submitted: number;
  /** Requests joined to an identical action already in flight. */
  readonly merged: number;
  readonly completed: number;
  /** Completed with a non-OK status or a non-zero exit code. */
  readonly failed: number;
  readonly retried: number;
  /** Milliseconds from queued to started, and from started to completed, of recent operations (for percentiles). */
  readonly queueWaitMs: readonly number[];
  readonly executionMs: readonly number[];
  /** The same two measured for every operation since start (Prometheus histograms); absent when a scheduler does not measure them. */
  readonly queueWaitTotals?: LatencyHistogram;
  readonly executionTotals?: LatencyHistogram;
}
