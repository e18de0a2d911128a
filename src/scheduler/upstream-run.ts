// One forwarded action's round trip to the upstream: Execute, relay its
// stages, resume with WaitExecution when the stream drops (bounded by the
// retry policy), upload what the upstream reports MISSING from the local
// CAS and try once more, then bring the result's blobs into the local CAS
// (the client reads outputs from this daemon) and record a successful result
// in the local action cache, so the next build of it is a local hit.
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  ActionResultCodec,
  DIGEST_FUNCTION_SHA256,
  type ExecuteRequest,
  type ExecuteResponse,
  type MessageInit,
  PRECONDITION_FAILURE_TYPE_URL,
  PreconditionFailureCodec,
  type Status,
} from '../proto/reapi.js';
import { putBuffer, type StoreDriver } from '../stores/store.js';
import type { ReconnectPolicy, UpstreamOperation } from '../upstream/execution-client.js';
import { type Digest, formatDigest } from '../util/digest.js';
import { NcacheError, errorCode, errorMessage, isNotFound, unavailable } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { actionBlobs, copyMissing, resultBlobs, treeFileBlobs } from './action-blobs.js';
import { forwardedAction } from './forwarded-action.js';
import type { ForwardedOperation } from './forwarded-operation.js';
import { emptyActionResult, type JobOutcome, type LocalStores } from './job.js';

/** The upstream's Execution service, as the `grpc` scheduler uses it (src/upstream/execution-client.ts). */
export interface UpstreamExecution extends ReconnectPolicy {
  readonly address: string;
  execute(request: MessageInit<ExecuteRequest>, signal?: AbortSignal): AsyncIterable<UpstreamOperation>;
  waitExecution(name: string, instance: string, signal?: AbortSignal): AsyncIterable<UpstreamOperation>;
  /** Releases the connection (the scheduler's close()). */
  close(): void;
}

export interface UpstreamRunDeps {
  readonly upstream: UpstreamExecution;
  readonly upstreamCas: (instanceName: string) => StoreDriver;
  readonly schedulerName: string;
  readonly now: () => number;
  readonly logger: Logger;
  /** Another attempt: a backoff after the upstream could not be reached, or the re-Execute after a MISSING upload. */
  readonly onRetry: () => void;
}

/**
 * Resumes in a row of streams that each dropped within QUICK_DROP_MS: far
 * above what a flaky path needs, and it stops a server that answers and hangs
 * up at once from being called in a tight loop. A stream that lasted longer
 * starts the count again, so a long action on a server that ends its streams
 * every few minutes is followed for as long as it runs.
 */
export const MAX_QUICK_RESUMES = 100;
const QUICK_DROP_MS = 10_000;

/** The action's outcome as the upstream decided it; throws (UNAVAILABLE naming the upstream) when it could not be reached. */
export async function runUpstream(op: ForwardedOperation, deps: UpstreamRunDeps): Promise<JobOutcome> {
  const local = op.request.localStores;
  const upstreamCas = () => deps.upstreamCas(op.request.instanceName);
  const forwarded = await forwardedAction(op.request, upstreamCas);
  let response = await relay(op, forwarded.actionDigest, deps);
  const missing = missingBlobs(response.status);
  if (missing !== undefined && local !== undefined) {
    const needed = [...missing, ...forwarded.madeBlobs, ...(await actionBlobs(local.cas, op.request))];
    const { copied } = await copyMissing(local.cas, upstreamCas(), needed);
    deps.logger.info(`scheduler "${deps.schedulerName}": upstream ${deps.upstream.address} lacked ${missing.length} blob(s) of action ${formatDigest(op.actionDigest)}; uploaded ${copied}, trying again`);
    if (copied > 0) {
      deps.onRetry();
      op.upstreamName = undefined;
      response = await relay(op, forwarded.actionDigest, deps);
    }
  }
  if (local !== undefined && response.result !== null) await land(op, response, local, deps);
  return outcomeOf(response);
}

/** Follows the upstream operation to its done response, resuming after drops. */
async function relay(op: ForwardedOperation, actionDigest: Digest, deps: UpstreamRunDeps): Promise<ExecuteResponse> {
  const { upstream } = deps;
  const signal = op.controller.signal;
  let unreached = 0;
  let resumes = 0;
  for (;;) {
    const stream = op.upstreamName === undefined ? upstream.execute(executeRequest(op, actionDigest), signal) : upstream.waitExecution(op.upstreamName, op.instanceName, signal);
    const openedAtMs = deps.now();
    let heard = false;
    let failure: unknown;
    try {
      for await (const u of stream) {
        heard = true;
        op.upstreamName = u.name;
        if (u.response !== undefined) return u.response;
        op.moveTo(u.stage === 'queued' ? 'queued' : 'executing', deps.now());
      }
      failure = unavailable(`upstream ${upstream.address}: the stream of operation ${op.upstreamName ?? '(unnamed)'} ended before it was done`);
    } catch (err) {
      failure = err;
    }
    if (signal.aborted) throw new NcacheError('CANCELLED', `scheduler "${deps.schedulerName}" stopped following ${op.name}`);
    if (isNotFound(failure) && op.upstreamName !== undefined) {
      // The upstream forgot the operation (restarted, or retention passed): Execute again, which is always safe.
      op.upstreamName = undefined;
      heard = true;
    } else if (!resumable(failure, op, upstream)) {
      throw failure;
    }
    if (heard) {
      unreached = 0;
      if (deps.now() - openedAtMs > QUICK_DROP_MS) resumes = 0;
      if (++resumes > MAX_QUICK_RESUMES) {
        throw unavailable(`upstream ${upstream.address}: the stream of operation ${op.upstreamName ?? op.name} dropped ${MAX_QUICK_RESUMES} times in a row, each within ${QUICK_DROP_MS / 1000}s: ${errorMessage(failure)}`);
      }
      continue;
    }
    if (unreached >= upstream.maxRetries) {
      const attempts = unreached + 1;
      throw unavailable(
        `scheduler "${deps.schedulerName}": could not reach upstream ${upstream.address} (${attempts} attempt${attempts === 1 ? '' : 's'}, retry.max_retries: ${upstream.maxRetries}): ${errorMessage(failure)}`,
      );
    }
    deps.onRetry();
    await upstream.backoff(unreached++);
  }
}

/** Worth another call: what the retry policy repeats, or a stream of a known operation that broke (resumed by name). */
function resumable(err: unknown, op: ForwardedOperation, upstream: UpstreamExecution): boolean {
  if (upstream.retryable(err)) return true;
  const code = errorCode(err);
  return op.upstreamName !== undefined && (code === 'CANCELLED' || code === 'INTERNAL' || code === 'UNAVAILABLE');
}

function executeRequest(op: ForwardedOperation, actionDigest: Digest): MessageInit<ExecuteRequest> {
  const r = op.request;
  return {
    instanceName: r.instanceName,
    actionDigest,
    skipCacheLookup: (r.skipCacheLookup ?? false) || r.action.doNotCache,
    executionPolicy: r.priority === 0 ? null : { priority: r.priority },
    digestFunction: DIGEST_FUNCTION_SHA256,
    inlineStdout: r.inlineStdout,
    inlineStderr: r.inlineStderr,
    inlineOutputFiles: [...r.inlineOutputFiles],
  };
}

/** The digests of a FAILED_PRECONDITION's MISSING violations, or undefined for any other status. */
function missingBlobs(status: Status | null): Digest[] | undefined {
  if (status?.code !== GrpcStatus.FAILED_PRECONDITION) return undefined;
  const digests = status.details
    .filter((any) => any.typeUrl === PRECONDITION_FAILURE_TYPE_URL)
    .flatMap((any) => PreconditionFailureCodec.decode(any.value).violations)
    .flatMap((v) => {
      const m = v.type === 'MISSING' ? /^blobs\/([0-9a-f]{64})\/([0-9]+)$/.exec(v.subject) : null;
      return m ? [{ hash: m[1]!, sizeBytes: Number(m[2]) }] : [];
    });
  return digests.length > 0 ? digests : undefined;
}

/**
 * The result's blobs into the local CAS (the client reads outputs, stdout and
 * stderr from this daemon, failed actions included), and a successful result
 * into the local action cache under the action the client asked for.
 */
async function land(op: ForwardedOperation, response: ExecuteResponse, local: LocalStores, deps: UpstreamRunDeps): Promise<void> {
  const result = response.result;
  if (result === null) return;
  const upstreamCas = deps.upstreamCas(op.request.instanceName);
  const direct = await copyMissing(upstreamCas, local.cas, resultBlobs(result));
  const inTrees = await copyMissing(upstreamCas, local.cas, await treeFileBlobs(local.cas, result));
  const absent = [...direct.absent, ...inTrees.absent];
  const ok = (response.status?.code ?? GrpcStatus.OK) === GrpcStatus.OK && result.exitCode === 0;
  if (absent.length > 0) {
    const message = `upstream ${deps.upstream.address} answered action ${formatDigest(op.actionDigest)} with a result naming ${absent.length} blob(s) neither its CAS nor this one has (${absent.slice(0, 3).map(formatDigest).join(', ')})`;
    if (ok) throw unavailable(message);
    deps.logger.warn(message);
    return;
  }
  if (!ok || op.request.action.doNotCache || local.actionCache === undefined) return;
  try {
    await putBuffer(local.actionCache, op.actionDigest, ActionResultCodec.encode(result));
  } catch (err) {
    // The client has its answer either way; only the next build's local hit is lost.
    deps.logger.warn(`scheduler "${deps.schedulerName}": recording the result of ${formatDigest(op.actionDigest)} in the local action cache failed: ${errorMessage(err)}`);
  }
}

function outcomeOf(response: ExecuteResponse): JobOutcome {
  const status = response.status ?? { code: GrpcStatus.OK, message: '', details: [] };
  const outcome: JobOutcome = { result: response.result ?? emptyActionResult(), status, cachedResult: response.cachedResult };
  return response.message === '' ? outcome : { ...outcome, message: response.message };
}
