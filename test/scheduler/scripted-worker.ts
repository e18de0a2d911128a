// A small real ExecutionWorker for scheduler tests: each run waits until the
// test settles it (an outcome, a WorkerLostError, any other error), and it
// honours the abort signal as a worker must. Plus builders for requests and
// specs.
import { SIMPLE_SCHEDULER_DEFAULTS } from '../../src/config/schema-execution.js';
import type { SchedulerSpec, SimpleSchedulerSpec } from '../../src/config/types.js';
import type { Action, Command } from '../../src/proto/reapi.js';
import type { ExecutionWorker, Job, JobOutcome, JobRequest, PlatformProperties, RunControl } from '../../src/scheduler/job.js';
import { emptyActionResult } from '../../src/scheduler/job.js';
import type { OperationHandle, OperationState } from '../../src/scheduler/scheduler.js';
import { sha256 } from '../../src/util/digest.js';

export interface ScriptedRun {
  readonly job: Job;
  readonly control: RunControl;
  /** Set when the run ended: by the test, or by the scheduler's abort. */
  ended: 'resolved' | 'rejected' | 'aborted' | undefined;
  finish(outcome?: JobOutcome): void;
  fail(err: unknown): void;
}

export class ScriptedWorker implements ExecutionWorker {
  readonly runs: ScriptedRun[] = [];
  readonly properties: PlatformProperties;
  readonly slots: number;
  readonly keepAliveMs?: number;
  closed = false;

  constructor(
    readonly id: string,
    opts: { slots?: number; properties?: PlatformProperties; keepAliveMs?: number } = {},
  ) {
    this.slots = opts.slots ?? 1;
    this.properties = opts.properties ?? {};
    if (opts.keepAliveMs !== undefined) this.keepAliveMs = opts.keepAliveMs;
  }

  /** Runs not yet ended. */
  get active(): ScriptedRun[] {
    return this.runs.filter((r) => r.ended === undefined);
  }

  run(job: Job, control: RunControl): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      const run: ScriptedRun = {
        job,
        control,
        ended: undefined,
        finish: (outcome = okOutcome()) => {
          if (run.ended !== undefined) throw new Error(`run of ${job.operationName} already ${run.ended}`);
          run.ended = 'resolved';
          resolve(outcome);
        },
        fail: (err) => {
          if (run.ended !== undefined) throw new Error(`run of ${job.operationName} already ${run.ended}`);
          run.ended = 'rejected';
          reject(err);
        },
      };
      control.signal.addEventListener('abort', () => {
        if (run.ended !== undefined) return;
        run.ended = 'aborted';
        reject(control.signal.reason);
      });
      this.runs.push(run);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export function okOutcome(exitCode = 0): JobOutcome {
  return { result: { ...emptyActionResult(), exitCode }, status: { code: 0, message: '', details: [] } };
}

/** A config's scheduler spec as the `simple` one a test configured (a failed expectation otherwise). */
export function asSimple(spec: SchedulerSpec | undefined): SimpleSchedulerSpec {
  if (spec?.kind !== 'simple') throw new Error(`expected a simple scheduler spec, got ${spec?.kind ?? 'none'}`);
  return spec;
}

export function simpleSpec(overrides: Partial<SimpleSchedulerSpec> = {}): SimpleSchedulerSpec {
  return {
    kind: 'simple',
    supported_platform_properties: {},
    ...SIMPLE_SCHEDULER_DEFAULTS,
    allocation_strategy: 'least_recently_used',
    ...overrides,
  };
}

/** A request for an action named `key` (its digest is derived from the key, so equal keys are identical actions). */
export function jobRequest(
  key: string,
  opts: { platform?: PlatformProperties; priority?: number; doNotCache?: boolean; instanceName?: string } = {},
): JobRequest {
  const action: Action = {
    commandDigest: null,
    inputRootDigest: null,
    timeout: null,
    doNotCache: opts.doNotCache ?? false,
    salt: Buffer.alloc(0),
    platform: null,
  };
  const command: Command = {
    arguments: ['true'],
    environmentVariables: [],
    outputFiles: [],
    outputDirectories: [],
    outputPaths: [],
    platform: null,
    workingDirectory: '',
    outputNodeProperties: [],
    outputDirectoryFormat: 0,
  };
  return {
    instanceName: opts.instanceName ?? '',
    actionDigest: { hash: sha256(key), sizeBytes: key.length },
    action,
    command,
    platform: opts.platform ?? {},
    timeoutS: 0,
    priority: opts.priority ?? 0,
    inlineStdout: false,
    inlineStderr: false,
    inlineOutputFiles: [],
  };
}

/** Resolves with the completed state; watching also counts as a client being present. */
export function completion(handle: OperationHandle): Promise<OperationState> {
  const now = handle.current();
  if (now.stage === 'completed') return Promise.resolve(now);
  return new Promise((resolve) => {
    const stop = handle.watch((state) => {
      if (state.stage !== 'completed') return;
      stop();
      resolve(state);
    });
  });
}

/** Lets settled worker promises reach the scheduler (their callbacks run on the microtask queue). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
