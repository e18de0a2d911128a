// build.bazel.remote.execution.v2.Execution: Execute looks the action up in
// the action cache, else hands it to the instance's scheduler and streams
// every state change of the operation as a google.longrunning.Operation;
// WaitExecution re-attaches to an operation by name.
//
// Where errors go (REAPI, Execution.Execute): "Errors discovered during
// creation of the Operation will be reported as gRPC Status errors, while
// errors that occurred while running the action will be reported in the
// status field of the ExecuteResponse. The server MUST NOT set the error field
// of the Operation proto." A bad request, an unknown instance or a platform
// property the scheduler does not support is the call's status. A missing
// Action, Command or input root is a done Operation whose ExecuteResponse.status
// is FAILED_PRECONDITION with MISSING violations: the spec lists "a missing
// input or command" among the FAILED_PRECONDITION errors of "setting up the
// action", the worker reports missing inputs the same way, and Bazel reads
// the details from ExecuteResponse.status (ExecutionStatusException) to
// re-upload and retry. A done Operation always carries a result.
import { GrpcStatus } from '../util/grpc-codes.js';
import type { ServerStreamCall } from './grpc-server/calls.js';
import { randomUUID } from 'node:crypto';
import type { LocalStores } from '../scheduler/job.js';
import type { OperationHandle, OperationState, Scheduler } from '../scheduler/scheduler.js';
import {
  type ActionResult,
  DIGEST_FUNCTION_SHA256,
  type ExecuteRequest,
  ExecuteOperationMetadataCodec,
  ExecuteResponseCodec,
  type ExecutionHandlers,
  type MessageInit,
  type Operation,
  STAGE_COMPLETED,
  STAGE_EXECUTING,
  STAGE_QUEUED,
  type Status,
  type WaitExecutionRequest,
  typeUrl,
} from '../proto/reapi.js';
import type { StoreDriver } from '../stores/store.js';
import type { Digest } from '../util/digest.js';
import { notFound } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { AcServer } from './ac-server.js';
import { cachedSuccess } from './cached-result.js';
import { checkDigestFunction, failStream } from './call-utils.js';
import type { ExecuteCounters } from './execution-counters.js';
import { prepareExecution } from './execution-request.js';
import { OK_STATUS } from './grpc-status.js';
import type { InstanceMap } from './instances.js';

/** What one instance name's execution service uses. */
export interface ExecutionInstance {
  /** The execution service's cas_store: where the Action, Command and inputs are. */
  readonly cas: StoreDriver;
  readonly scheduler: Scheduler;
  /** The instance's action cache, looked up unless skip_cache_lookup; undefined: no lookup. */
  readonly actionCache: AcServer | undefined;
  /** Handed to the scheduler with every action (JobRequest.localStores): what a forwarding scheduler reads inputs from and writes results to. */
  readonly localStores: LocalStores;
}

export interface ExecutionServerOptions {
  readonly instances: InstanceMap<ExecutionInstance>;
  readonly counters: ExecuteCounters;
  readonly logger: Logger;
}

const METADATA_TYPE_URL = typeUrl(ExecuteOperationMetadataCodec.name);
const RESPONSE_TYPE_URL = typeUrl(ExecuteResponseCodec.name);

type OperationStream = ServerStreamCall<unknown, MessageInit<Operation>>;

export class ExecutionServer {
  constructor(private readonly opts: ExecutionServerOptions) {}

  handlers(): ExecutionHandlers {
    return {
      execute: (call) => {
        const stream: OperationStream = call;
        this.execute(call.request, stream).catch((err: unknown) => failStream(stream, err, 'ExecutionServer.execute', this.opts.logger));
      },
      waitExecution: (call) => {
        const stream: OperationStream = call;
        try {
          this.waitExecution(call.request, stream);
        } catch (err) {
          failStream(stream, err, 'ExecutionServer.waitExecution', this.opts.logger);
        }
      },
    };
  }

  private async execute(req: ExecuteRequest, call: OperationStream): Promise<void> {
    checkDigestFunction(req.digestFunction);
    const instance = this.opts.instances.get(req.instanceName);
    this.opts.counters.requests++;
    if (!req.skipCacheLookup && instance.actionCache !== undefined && req.actionDigest !== null) {
      const hit = await cachedSuccess(instance.actionCache, { ...req, actionDigest: req.actionDigest });
      if (hit !== undefined) {
        this.opts.counters.cacheHits++;
        finish(call, doneOperation(newOperationName(), req.actionDigest, { result: hit, cachedResult: true, status: OK_STATUS }));
        return;
      }
    }
    const prepared = await prepareExecution(req, instance.cas);
    if (prepared.kind === 'missing') {
      this.opts.counters.missingBlobs++;
      finish(call, doneOperation(newOperationName(), prepared.actionDigest, { result: {}, cachedResult: false, status: prepared.status }));
      return;
    }
    if (call.cancelled) return;
    const handle = instance.scheduler.submit({ ...prepared.request, localStores: instance.localStores });
    this.opts.counters.queued++;
    follow(handle, call);
  }

  private waitExecution(req: WaitExecutionRequest, call: OperationStream): void {
    const handle = this.find(req.name);
    // Bazel answers NOT_FOUND by calling Execute again, which is always safe.
    if (handle === undefined) throw notFound(`no operation named ${JSON.stringify(req.name)} (it finished more than retain_completed_for_s ago, or never existed)`);
    follow(handle, call);
  }

  private find(name: string): OperationHandle | undefined {
    for (const instanceName of this.opts.instances.names()) {
      const found = this.opts.instances.get(instanceName).scheduler.find(name);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}

/**
 * Streams the operation from its current state to completion, then ends the
 * call. A client that goes away stops watching; the scheduler's
 * client_action_timeout_s decides what happens to an operation nobody watches.
 */
function follow(handle: OperationHandle, call: OperationStream): void {
  let last: OperationState | undefined;
  let unwatch: (() => void) | undefined;
  let ended = false;
  const send = (state: OperationState) => {
    if (ended || sameStage(last, state)) return;
    last = state;
    if (state.stage !== 'completed') {
      call.write(operationOf(state));
      return;
    }
    ended = true;
    unwatch?.();
    finish(call, operationOf(state));
  };
  const stop = () => {
    ended = true;
    unwatch?.();
  };
  call.once('cancelled', stop);
  call.once('close', stop);
  send(handle.current());
  if (ended) return;
  unwatch = handle.watch(send);
  // The watch may have delivered the completion before `unwatch` was known.
  if (ended) unwatch();
}

/** Worker progress within EXECUTING (fetching inputs, uploading outputs) is not a new stage for the client. */
function sameStage(a: OperationState | undefined, b: OperationState): boolean {
  return a !== undefined && a.stage === b.stage && a.worker === b.worker;
}

function finish(call: OperationStream, op: MessageInit<Operation>): void {
  if (call.cancelled || call.destroyed) return;
  call.write(op);
  call.end();
}

function operationOf(state: OperationState): MessageInit<Operation> {
  if (state.stage === 'completed') {
    const outcome = state.outcome;
    // A completed state always has an outcome (scheduler.ts); a missing one is the scheduler's bug, said plainly.
    const response = outcome ?? {
      result: {},
      status: { code: GrpcStatus.INTERNAL, message: `operation ${state.name} completed without an outcome`, details: [] },
    };
    return doneOperation(state.name, state.actionDigest, {
      result: response.result,
      cachedResult: outcome?.cachedResult ?? false,
      status: response.status,
      message: outcome?.message,
    });
  }
  return { name: state.name, done: false, metadata: metadataOf(state.stage === 'queued' ? STAGE_QUEUED : STAGE_EXECUTING, state.actionDigest) };
}

function doneOperation(
  name: string,
  actionDigest: Digest,
  response: { result: MessageInit<ActionResult>; cachedResult: boolean; status: MessageInit<Status>; message?: string },
): MessageInit<Operation> {
  return {
    name,
    done: true,
    metadata: metadataOf(STAGE_COMPLETED, actionDigest),
    response: { typeUrl: RESPONSE_TYPE_URL, value: ExecuteResponseCodec.encode({ ...response, message: response.message ?? '' }) },
  };
}

function metadataOf(stage: number, actionDigest: Digest): MessageInit<Operation>['metadata'] {
  return { typeUrl: METADATA_TYPE_URL, value: ExecuteOperationMetadataCodec.encode({ stage, actionDigest, digestFunction: DIGEST_FUNCTION_SHA256 }) };
}

/** Names for operations that never reach a scheduler (cache hits, missing blobs): unique, and unknown to WaitExecution. */
function newOperationName(): string {
  return `operations/${randomUUID()}`;
}
