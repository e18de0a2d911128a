// The seam between the execution service, the scheduler and the workers:
// what the service submits, what the scheduler hands a worker, and what comes
// back. src/scheduler/ and src/worker/ depend on this file, never on each
// other, so a worker reached another way (over a worker API, a forwarding
// `grpc` scheduler) fits the same slot.
import type { Action, ActionResult, Command, Digest, ExecutedActionMetadata, Status } from '../proto/reapi.js';
import type { StoreDriver } from '../stores/store.js';

/** Platform properties, name -> values (a Platform may repeat a name). */
export type PlatformProperties = Readonly<Record<string, readonly string[]>>;

/** One action, validated by the execution service, ready to queue. */
export interface JobRequest {
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly action: Action;
  readonly command: Command;
  /** Action.platform, else Command.platform (REAPI < 2.2 clients such as Bazel 4 send both). */
  readonly platform: PlatformProperties;
  /** Action.timeout in seconds; 0 when the client set none (the worker's default applies). */
  readonly timeoutS: number;
  /** ExecutionPolicy.priority: lower runs sooner, 0 is the default. */
  readonly priority: number;
  readonly inlineStdout: boolean;
  readonly inlineStderr: boolean;
  readonly inlineOutputFiles: readonly string[];
  /** ExecuteRequest.skip_cache_lookup: a `cache_lookup` scheduler does not look, a `grpc` one asks its upstream not to. */
  readonly skipCacheLookup?: boolean;
  /**
   * The executing instance's own stores, set by the execution service. A
   * scheduler that runs nothing itself (`grpc`) uploads inputs its upstream
   * lacks from `cas`, copies outputs into it and records the result in
   * `actionCache`; `simple` ignores them (its workers name their own stores).
   */
  readonly localStores?: LocalStores;
}

/** An instance's CAS and action cache, as the execution service reaches them (pinned like the services' stores). */
export interface LocalStores {
  /** The execution service's cas_store. */
  readonly cas: StoreDriver;
  /** The instance's action cache store (its `ac` service's ac_store); undefined when the instance has none. */
  readonly actionCache?: StoreDriver;
}

/** What a worker is given: the request plus what the scheduler knows about this run. */
export interface Job extends JobRequest {
  /** The operation's name, stable across retries. */
  readonly operationName: string;
  /** When the action was queued (ms since the epoch), for ExecutedActionMetadata.queued_timestamp. */
  readonly queuedAtMs: number;
  /** 0 on the first hand-out, then +1 each time a lost worker makes the scheduler hand it out again. */
  readonly attempt: number;
}

/** How one run of an action ended. */
export interface JobOutcome {
  /** Always set, failures included: Bazel rejects a finished operation without one. */
  readonly result: ActionResult;
  /**
   * OK when the command ran to its end (whatever its exit code); otherwise why
   * it did not: DEADLINE_EXCEEDED (timeout; result holds the partial output),
   * FAILED_PRECONDITION with PreconditionFailure MISSING violations in
   * `details` (Bazel re-uploads those blobs and retries), INVALID_ARGUMENT ...
   */
  readonly status: Status;
  /** ExecuteResponse.message: shown to the user by the client. */
  readonly message?: string;
  /** ExecuteResponse.cached_result: the result came from a cache, nothing ran (a `cache_lookup` hit, an upstream's cache hit). */
  readonly cachedResult?: boolean;
}

/** The result of an action that did not run to its end (it must still be present: see JobOutcome.result). */
export function emptyActionResult(metadata: ExecutedActionMetadata | null = null): ActionResult {
  return {
    outputFiles: [],
    outputFileSymlinks: [],
    outputSymlinks: [],
    outputDirectories: [],
    outputDirectorySymlinks: [],
    exitCode: 0,
    stdoutRaw: Buffer.alloc(0),
    stdoutDigest: null,
    stderrRaw: Buffer.alloc(0),
    stderrDigest: null,
    executionMetadata: metadata,
  };
}

export type WorkerStage = 'fetching_inputs' | 'executing' | 'uploading_outputs';

export interface RunControl {
  /** Aborted when the scheduler gives up on the run (client gone, executing timeout, daemon stopping): kill, clean up, reject. */
  readonly signal: AbortSignal;
  /** Progress for `ncache ops` and stats; also counts as a worker update for max_action_executing_timeout_s. */
  onStage?(stage: WorkerStage): void;
  /**
   * "This worker is alive": a worker that sets `keepAliveMs` calls this at
   * least that often while it runs a job. The scheduler removes a worker that
   * has running jobs and stays silent for worker_timeout_s, and re-queues its
   * jobs. Optional so a caller other than the scheduler may leave it out.
   */
  keepAlive?(): void;
}

/** A place actions run: the scheduler's view of a worker. */
export interface ExecutionWorker {
  /** Unique among the scheduler's workers; shown by status and in ExecutedActionMetadata.worker. */
  readonly id: string;
  /** What it offers, matched against each action's platform by the scheduler. */
  readonly properties: PlatformProperties;
  /** Actions it runs at once. */
  readonly slots: number;
  /**
   * Set by a worker that reports liveness (RunControl.keepAlive, at least this
   * often while running): worker_timeout_s then applies to it. Unset, the worker
   * runs in the daemon's process and is alive as long as the daemon is.
   */
  readonly keepAliveMs?: number;
  /**
   * Runs one job. Resolves with its outcome, including failed commands,
   * timeouts and missing inputs. Rejects with WorkerLostError only when the
   * worker itself could not do its part (the scheduler hands the job to
   * another run, up to max_job_retries), or with an AbortError after `signal`.
   */
  run(job: Job, control: RunControl): Promise<JobOutcome>;
  /** Stops running actions (killing their process groups) and removes their directories. */
  close?(): Promise<void>;
}

/** The worker, not the action, failed: the job may be retried elsewhere. */
export class WorkerLostError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WorkerLostError';
  }
}
