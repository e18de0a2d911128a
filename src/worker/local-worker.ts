// NativeLink's `local` worker, in the daemon's process: per action a fresh
// directory under work_directory, the input tree materialized from the
// cas_fast_slow_store (hardlinks from the filesystem tier, see
// materialize.ts), the command run in its own process group
// (run-command.ts), outputs collected and handed to the CAS (outputs.ts,
// file-upload.ts), the ActionResult written to the action cache under
// upload_action_result, then the directory removed. Inputs it linked are
// checked after each run (tamper-check.ts).
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, chmod } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { GrpcStatus } from '../util/grpc-codes.js';
import type { LocalWorkerSpec } from '../config/types.js';
import { grpcCode } from '../daemon/grpc-status.js';
import { ActionResultCodec, type ActionResult, type Command, type ExecutedActionMetadata, type Status } from '../proto/reapi.js';
import type { ExecutionWorker, Job, JobOutcome, PlatformProperties, RunControl } from '../scheduler/job.js';
import { WorkerLostError, emptyActionResult } from '../scheduler/job.js';
import type { PinRegistry } from '../maintenance/pins.js';
import { type LinkableFiles, type StoreDriver, putBuffer } from '../stores/store.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Digest, EMPTY_DIGEST, formatDigest, isEmptyDigest, validateDigest } from '../util/digest.js';
import { NcacheError, errorMessage, invalidArgument } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { checkRelativePath } from './action-paths.js';
import { shouldCacheResult, timestampOf } from './action-result.js';
import { actionEnvironment, usesSideChannel } from './environment.js';
import { ExecCopies } from './exec-copies.js';
import { type FileBlob, hashFile, uploadFiles } from './file-upload.js';
import { DEFAULT_INPUT_TREE_LIMITS, type InputTreeLimits, fetchInputTree } from './input-tree.js';
import { type InputSources, type LinkedInput, materialize, writeBlob } from './materialize.js';
import { MissingBlobsError, missingBlobsStatus } from './missing-blobs.js';
import { collectOutputs } from './outputs.js';
import { runCommand } from './run-command.js';
import { removeTree } from './remove-tree.js';
import { Spawner } from './spawner.js';
import { sideChannelReportsTimeout } from './side-channel.js';
import { evictModifiedInputs } from './tamper-check.js';

export interface LocalWorkerOptions {
  /** Unique among the scheduler's workers; ExecutedActionMetadata.worker. */
  readonly id: string;
  readonly spec: LocalWorkerSpec;
  /** The built cas_fast_slow_store. */
  readonly cas: StoreDriver;
  /** The built upload_action_result.ac_store; absent: results are not cached. */
  readonly ac?: StoreDriver;
  /**
   * The daemon's pins: every output is pinned from before the worker asks
   * the CAS for it until the ActionResult naming it is written, so gc cannot
   * remove an output in between (the result would then name a lost blob).
   */
  readonly pins?: Pick<PinRegistry, 'pin'>;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Byte budget of the executable copies (exec-copies.ts). Default 2 GB. */
  readonly execCopiesMaxBytes?: number;
  /** Largest stdout/stderr inlined when the client asks, and the total for inline_output_files. Default 64 KiB / 1 MiB. */
  readonly inlineStreamMaxBytes?: number;
  readonly inlineFilesBudgetBytes?: number;
}

/** What materializeInputs did (tests and the execution benchmark). */
export interface MaterializedInputs {
  readonly files: number;
  readonly directories: number;
  /** Shared files handed out as hardlinks (one per distinct digest). */
  readonly linked: readonly LinkedInput[];
}

interface Setup {
  /** The CAS's files when they are on work_directory's filesystem (hardlinks and renames work). */
  readonly linkable: LinkableFiles | undefined;
  readonly execCopies: ExecCopies | undefined;
}

const ACTION_DIR_PREFIX = 'action-';
const FAILED_DIR_PREFIX = 'failed-';
const EXEC_COPIES_DIR = '.exec-copies';
const DEFAULT_EXEC_COPIES_MAX_BYTES = 2_000_000_000;
const DEFAULT_INLINE_STREAM_MAX_BYTES = 64 * 1024;
const DEFAULT_INLINE_FILES_BUDGET_BYTES = 1024 * 1024;

export class LocalWorker implements ExecutionWorker {
  readonly id: string;
  readonly properties: PlatformProperties;
  readonly slots: number;
  private readonly spec: LocalWorkerSpec;
  private readonly cas: StoreDriver;
  private readonly ac: StoreDriver | undefined;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly limits: InputTreeLimits;
  private readonly options: LocalWorkerOptions;
  private setup: Promise<Setup> | undefined;
  private closed = false;
  /** Runs in progress, each with the controller that stops it (on the scheduler's abort or close()). */
  private readonly runs = new Map<Promise<unknown>, AbortController>();
  /** Action directories being removed after their results were returned. */
  private readonly removals = new Set<Promise<void>>();
  private readonly spawner: Spawner;

  constructor(options: LocalWorkerOptions) {
    const { spec } = options;
    this.options = options;
    this.id = options.id;
    this.spec = spec;
    this.cas = options.cas;
    this.ac = options.ac;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.properties = Object.fromEntries(Object.entries(spec.platform_properties).map(([name, p]) => [name, [...p.values]]));
    this.slots = slotsOf(spec);
    this.spawner = new Spawner(`worker ${this.id}`);
    this.limits = {
      maxDepth: spec.max_input_tree_depth ?? DEFAULT_INPUT_TREE_LIMITS.maxDepth,
      maxEntries: spec.max_input_tree_entries ?? DEFAULT_INPUT_TREE_LIMITS.maxEntries,
    };
  }

  async run(job: Job, control: RunControl): Promise<JobOutcome> {
    if (this.closed) throw new WorkerLostError(`worker ${this.id} is closed`);
    // One controller per run, fed by the scheduler's signal and by close()
    // (not AbortSignal.any over a worker-lifetime signal, which keeps every
    // run's signal reachable on Node 20).
    const stop = new AbortController();
    const forward = () => stop.abort(control.signal.reason);
    if (control.signal.aborted) forward();
    else control.signal.addEventListener('abort', forward, { once: true });
    const run = this.runJob(job, control, stop.signal);
    this.runs.set(run, stop);
    try {
      return await run;
    } finally {
      this.runs.delete(run);
      control.signal.removeEventListener('abort', forward);
    }
  }

  /** Kills running actions' process groups, waits until their directories are removed, stops the spawner. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of this.runs.values()) stop.abort(new WorkerLostError(`worker ${this.id} closed while running the action`));
    await Promise.allSettled([...this.runs.keys()]);
    await Promise.allSettled([...this.removals]);
    await this.spawner.close();
  }

  /**
   * Fetches the input tree under `inputRoot` and writes it to `dest` (a
   * directory that must not exist yet), as a run does before its command.
   */
  async materializeInputs(inputRoot: Digest, dest: string): Promise<MaterializedInputs> {
    const setup = await this.ready();
    const tree = await fetchInputTree(this.cas, inputRoot, this.limits);
    await mkdir(dest);
    const linked = await materialize(tree, dest, this.sources(setup));
    return { files: tree.files.length, directories: tree.directories.length, linked };
  }

  /** The one-time setup; a failure is the worker's, not the action's (and is tried again next time). */
  private ready(): Promise<Setup> {
    this.setup ??= this.prepare().catch((err: unknown) => {
      this.setup = undefined;
      throw new WorkerLostError(`worker ${this.id} cannot use work_directory ${this.spec.work_directory}: ${errorMessage(err)}`, { cause: err });
    });
    return this.setup;
  }

  /** Once: the work directory, leftovers of an earlier run removed, how inputs can be linked. */
  private async prepare(): Promise<Setup> {
    const work = this.spec.work_directory;
    await mkdir(work, { recursive: true });
    for (const name of await readdir(work)) {
      if (!name.startsWith(ACTION_DIR_PREFIX)) continue;
      // A leftover that cannot be removed must not stop the worker from running actions.
      await removeTree(join(work, name)).catch((err: unknown) =>
        this.logger.warn(`worker ${this.id}: could not remove ${join(work, name)}, left by an earlier run: ${errorMessage(err)}`),
      );
    }
    const files = this.cas.linkableFiles?.();
    let linkable: LinkableFiles | undefined;
    if (files !== undefined) {
      const [a, b] = await Promise.all([stat(work), stat(files.contentPath)]);
      if (a.dev === b.dev) linkable = files;
      else {
        this.logger.info(
          `worker ${this.id}: work_directory ${work} is not on the filesystem of the CAS files (${files.contentPath}); inputs are copied, not hardlinked`,
        );
      }
    } else {
      this.logger.info(`worker ${this.id}: the CAS store has no filesystem tier to link from; inputs are copied, not hardlinked`);
    }
    let execCopies: ExecCopies | undefined;
    if (linkable !== undefined) {
      const files = linkable;
      execCopies = new ExecCopies(
        join(work, EXEC_COPIES_DIR),
        (digest, dest) => this.copyFromCas(files, digest, dest),
        this.options.execCopiesMaxBytes ?? DEFAULT_EXEC_COPIES_MAX_BYTES,
      );
      await execCopies.reset();
    }
    return { linkable, execCopies };
  }

  private sources(setup: Setup): InputSources {
    return { cas: this.cas, linkable: setup.linkable, execCopies: setup.execCopies };
  }

  /** An executable copy's bytes: a kernel copy of the CAS file, or streamed when it is not a local file. */
  private async copyFromCas(files: LinkableFiles, digest: Digest, dest: string): Promise<void> {
    const source = await files.pathOf(digest);
    if (source !== undefined) {
      try {
        await copyFile(source, dest);
        await chmod(dest, 0o444);
        return;
      } catch (err) {
        // Evicted meanwhile: fall back to reading it through the store.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await rm(dest, { force: true });
      }
    }
    await writeBlob(this.cas, digest, dest, 0o444);
  }

  private async runJob(job: Job, control: RunControl, signal: AbortSignal): Promise<JobOutcome> {
    const metadata: ExecutedActionMetadata = {
      worker: this.id,
      queuedTimestamp: timestampOf(job.queuedAtMs),
      workerStartTimestamp: timestampOf(this.clock.now()),
      workerCompletedTimestamp: null,
      inputFetchStartTimestamp: null,
      inputFetchCompletedTimestamp: null,
      executionStartTimestamp: null,
      executionCompletedTimestamp: null,
      virtualExecutionDuration: null,
      outputUploadStartTimestamp: null,
      outputUploadCompletedTimestamp: null,
      auxiliaryMetadata: [],
    };
    const setup = await this.ready();
    const dir = join(this.spec.work_directory, `${ACTION_DIR_PREFIX}${randomUUID()}`);
    const outputPins: (() => void)[] = [];
    let failed = true;
    try {
      const timeoutMs = this.timeoutMsOf(job);
      const command = job.command;
      const workingDir = join(dir, 'work', ...checkCommandPaths(command));
      const inputRoot = validateDigest(job.action.inputRootDigest ?? EMPTY_DIGEST, 'action input_root_digest');
      mkdirSync(dir);

      control.onStage?.('fetching_inputs');
      metadata.inputFetchStartTimestamp = timestampOf(this.clock.now());
      const tree = await fetchInputTree(this.cas, inputRoot, this.limits);
      throwIfAborted(signal);
      mkdirSync(join(dir, 'work'));
      const linked = await materialize(tree, join(dir, 'work'), this.sources(setup));
      prepareOutputLocations(workingDir, command);
      metadata.inputFetchCompletedTimestamp = timestampOf(this.clock.now());
      throwIfAborted(signal);

      control.onStage?.('executing');
      const sideChannelFile = join(dir, `side-channel-${randomUUID()}`);
      const argv = this.spec.entrypoint ? [this.spec.entrypoint, ...command.arguments] : command.arguments;
      const env = actionEnvironment(command, this.spec.additional_environment, {
        platform: job.platform,
        timeoutMs: timeoutMs ?? 0,
        actionDirectory: dir,
        sideChannelFile,
      });
      const stdoutPath = join(dir, 'stdout');
      const stderrPath = join(dir, 'stderr');
      const startedAtMs = Date.now();
      metadata.executionStartTimestamp = timestampOf(this.clock.now());
      const ran = await runCommand(this.spawner, {
        argv,
        cwd: workingDir,
        env,
        stdoutPath,
        stderrPath,
        timeoutMs: this.spec.timeout_handled_externally ? undefined : timeoutMs,
        signal,
      });
      metadata.executionCompletedTimestamp = timestampOf(this.clock.now());
      await this.checkInputs(linked, startedAtMs, setup);
      throwIfAborted(signal);
      const timedOut =
        ran.timedOut || (usesSideChannel(this.spec.additional_environment) && (await sideChannelReportsTimeout(sideChannelFile)));

      control.onStage?.('uploading_outputs');
      metadata.outputUploadStartTimestamp = timestampOf(this.clock.now());
      const result = await this.collectResult(job, command, workingDir, stdoutPath, stderrPath, ran.exitCode, timedOut, setup, outputPins);
      metadata.outputUploadCompletedTimestamp = timestampOf(this.clock.now());
      metadata.workerCompletedTimestamp = metadata.outputUploadCompletedTimestamp;
      const finished: ActionResult = { ...result, executionMetadata: metadata };
      if (timedOut) {
        const seconds = (timeoutMs ?? 0) / 1000;
        const message = `action ${formatDigest(job.actionDigest)} timed out after ${seconds} s; its process group was killed`;
        return { result: finished, status: { code: GrpcStatus.DEADLINE_EXCEEDED, message, details: [] }, message };
      }
      await this.cacheResult(job, finished);
      failed = ran.exitCode !== 0;
      return { result: finished, status: { code: GrpcStatus.OK, message: '', details: [] } };
    } catch (err) {
      // The scheduler's reason (an AbortError), or close()'s WorkerLostError.
      if (signal.aborted) throw signal.reason ?? err;
      // The spawner process died: the worker's failure, retried by the scheduler.
      if (err instanceof WorkerLostError) throw err;
      const now = timestampOf(this.clock.now());
      metadata.workerCompletedTimestamp = now;
      return { result: emptyActionResult(metadata), status: statusOf(err), message: errorMessage(err) };
    } finally {
      for (const release of outputPins) release();
      await this.cleanUp(dir, failed && !signal.aborted);
    }
  }

  /** Action.timeout, 0 meaning max_action_timeout; above it is INVALID_ARGUMENT. Undefined: no limit. */
  private timeoutMsOf(job: Job): number | undefined {
    const max = this.spec.max_action_timeout;
    if (max > 0 && job.timeoutS > max) {
      throw invalidArgument(`action timeout ${job.timeoutS} s is above the worker's max_action_timeout of ${max} s (worker ${this.id})`);
    }
    const seconds = job.timeoutS > 0 ? job.timeoutS : max;
    return seconds > 0 ? Math.round(seconds * 1000) : undefined;
  }

  /** `sinceMs`: wall-clock time (not the injected clock) the command started, compared with file mtimes. */
  private async checkInputs(linked: readonly LinkedInput[], sinceMs: number, setup: Setup): Promise<void> {
    const modified = await evictModifiedInputs(linked, sinceMs, setup.linkable, setup.execCopies);
    for (const input of modified) {
      this.logger.warn(`worker ${this.id}: an action modified its input ${formatDigest(input.digest)} in place; evicted it from the cache`);
    }
  }

  /** Outputs (unless timed out), stdout and stderr, stored in the CAS. */
  private async collectResult(
    job: Job,
    command: Command,
    workingDir: string,
    stdoutPath: string,
    stderrPath: string,
    exitCode: number,
    timedOut: boolean,
    setup: Setup,
    pins: (() => void)[],
  ): Promise<Omit<ActionResult, 'executionMetadata'>> {
    const inlineMax = this.options.inlineStreamMaxBytes ?? DEFAULT_INLINE_STREAM_MAX_BYTES;
    const outputs = timedOut
      ? undefined
      : await collectOutputs(workingDir, command, {
          paths: new Set(job.inlineOutputFiles),
          maxFileBytes: this.options.inlineFilesBudgetBytes ?? DEFAULT_INLINE_FILES_BUDGET_BYTES,
          budgetBytes: this.options.inlineFilesBudgetBytes ?? DEFAULT_INLINE_FILES_BUDGET_BYTES,
        });
    const stdout = await streamBlob(stdoutPath, job.inlineStdout, inlineMax);
    const stderr = await streamBlob(stderrPath, job.inlineStderr, inlineMax);
    const files: FileBlob[] = [...(outputs?.files ?? [])];
    if (stdout.digest) files.push({ digest: stdout.digest, path: stdoutPath });
    if (stderr.digest) files.push({ digest: stderr.digest, path: stderrPath });
    const messages = outputs?.messages ?? [];
    // Pinned before the CAS is asked, released by runJob once the ActionResult is written.
    if (this.options.pins !== undefined) {
      for (const { digest } of [...files, ...messages]) pins.push(this.options.pins.pin(digest));
    }
    await uploadFiles(this.cas, setup.linkable, files);
    if (messages.length > 0) {
      const sizes = await this.cas.has(messages.map((m) => m.digest));
      for (const [i, m] of messages.entries()) if (sizes[i] === undefined) await putBuffer(this.cas, m.digest, m.bytes);
    }
    return {
      outputFiles: outputs?.outputFiles ?? [],
      outputFileSymlinks: outputs?.outputFileSymlinks ?? [],
      outputSymlinks: outputs?.outputSymlinks ?? [],
      outputDirectories: outputs?.outputDirectories ?? [],
      outputDirectorySymlinks: outputs?.outputDirectorySymlinks ?? [],
      exitCode,
      stdoutRaw: stdout.raw,
      stdoutDigest: stdout.digest,
      stderrRaw: stderr.raw,
      stderrDigest: stderr.digest,
    };
  }

  /** Writes the result to the action cache when upload_ac_results_strategy says so. */
  private async cacheResult(job: Job, result: ActionResult): Promise<void> {
    if (this.ac === undefined) return;
    const strategy = this.spec.upload_action_result.upload_ac_results_strategy ?? 'success_only';
    if (!shouldCacheResult(strategy, result.exitCode, job.action.doNotCache)) return;
    // Inlined bytes are per request: the cached copy refers to blobs only.
    const cached: ActionResult = {
      ...result,
      stdoutRaw: Buffer.alloc(0),
      stderrRaw: Buffer.alloc(0),
      outputFiles: result.outputFiles.map((f) => ({ ...f, contents: Buffer.alloc(0) })),
    };
    await putBuffer(this.ac, job.actionDigest, ActionResultCodec.encode(cached));
  }

  /** Keeps a failed action's directory when configured to; otherwise removes it in the background (close() waits). */
  private async cleanUp(dir: string, keep: boolean): Promise<void> {
    if (keep && this.spec.keep_failed_action_directories) {
      const kept = join(dirname(dir), `${FAILED_DIR_PREFIX}${dir.slice(dir.lastIndexOf(ACTION_DIR_PREFIX) + ACTION_DIR_PREFIX.length)}`);
      try {
        await rename(dir, kept);
        this.logger.info(`worker ${this.id}: kept the directory of a failed action: ${kept}`);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        this.logger.warn(`worker ${this.id}: could not keep ${dir} as ${kept}: ${errorMessage(err)}`);
      }
    }
    // Not on the action's path: its result does not wait for the removal.
    const removal = removeTree(dir).catch((err: unknown) => {
      this.logger.warn(`worker ${this.id}: could not remove ${dir}: ${errorMessage(err)}`);
    });
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
  }
}

/** Slots: the `cpu_count` platform property when set, else the machine's parallelism. */
function slotsOf(spec: LocalWorkerSpec): number {
  const value = spec.platform_properties.cpu_count?.values[0];
  const n = value === undefined ? NaN : Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : availableParallelism();
}

/** Checks working_directory and every output path; returns the working directory's segments. */
function checkCommandPaths(command: Command): string[] {
  if (command.arguments.length === 0) throw invalidArgument('command has no arguments');
  const working = checkRelativePath(command.workingDirectory, 'working_directory', true);
  for (const path of command.outputFiles) checkRelativePath(path, 'output file');
  for (const path of command.outputDirectories) checkRelativePath(path, 'output directory');
  for (const path of command.outputPaths) checkRelativePath(path, 'output path');
  return working;
}

/** Every output's parent directory, and legacy output directories themselves, exist before the run. */
function prepareOutputLocations(workingDir: string, command: Command): void {
  const make = (path: string, what: string) => {
    try {
      mkdirSync(path, { recursive: true });
    } catch (err) {
      throw invalidArgument(`cannot create the directory for ${what}: ${errorMessage(err)}`);
    }
  };
  make(workingDir, 'the working directory');
  for (const path of [...command.outputFiles, ...command.outputPaths, ...command.outputDirectories]) {
    make(dirname(join(workingDir, path)), `output ${path}`);
  }
  for (const path of command.outputDirectories) make(join(workingDir, path), `output directory ${path}`);
}

/** stdout or stderr: its digest (none when empty) and, when asked and small, its bytes. */
async function streamBlob(path: string, inline: boolean, maxInline: number): Promise<{ digest: Digest | null; raw: Buffer }> {
  const digest = await hashFile(path);
  if (isEmptyDigest(digest)) return { digest: null, raw: Buffer.alloc(0) };
  const raw = inline && digest.sizeBytes <= maxInline ? await readFile(path) : Buffer.alloc(0);
  return { digest, raw };
}

function statusOf(err: unknown): Status {
  if (err instanceof MissingBlobsError) return missingBlobsStatus(err.digests, err.message);
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  // A full disk is retried by Bazel as RESOURCE_EXHAUSTED rather than reported as a bug.
  const code =
    err instanceof NcacheError ? grpcCode(err) : errno === 'ENOSPC' || errno === 'EDQUOT' ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL;
  return { code, message: errorMessage(err), details: [] };
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason ?? new Error('aborted');
}
