// Execution on an upstream (the `grpc` scheduler's calls): Execute and
// WaitExecution as streams of Operations, each decoded into what a relaying
// scheduler needs (its name, stage, and once done the ExecuteResponse, kept
// whole). No retry here: a stream that breaks is resumed by the caller with
// WaitExecution, which knows the upstream operation's name. The calls are made
// on the channel's leases directly (not UpstreamChannel.serverStream) so that
// an AbortSignal can cancel one while it waits for the next Operation.
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  type ExecuteRequest,
  type ExecuteResponse,
  ExecuteOperationMetadataCodec,
  ExecuteResponseCodec,
  type MessageInit,
  type Operation,
  SERVICE_NAMES,
  STAGE_COMPLETED,
  STAGE_EXECUTING,
  type WaitExecutionRequest,
  typeUrl,
} from '../proto/reapi.js';
import { backoffMs, realSleep } from '../util/retry.js';
import type { UpstreamChannel } from './channel.js';
import { type CallSite, UpstreamError, retryablePredicate } from './errors.js';
import { type UpstreamMethod, upstreamMethod } from './methods.js';

export const EXECUTE = upstreamMethod<ExecuteRequest, Operation>(SERVICE_NAMES.execution, 'Execute');
export const WAIT_EXECUTION = upstreamMethod<WaitExecutionRequest, Operation>(SERVICE_NAMES.execution, 'WaitExecution');

/** One Operation of an upstream's stream, as the relaying scheduler reads it. */
export interface UpstreamOperation {
  /** The upstream's operation name: what WaitExecution asks for after a drop. */
  readonly name: string;
  readonly stage: 'queued' | 'executing' | 'completed';
  /** Set when done: the upstream's ExecuteResponse as sent (an Operation.error, which REAPI forbids but a server may send, becomes its status). */
  readonly response?: ExecuteResponse;
}

const METADATA_TYPE_URL = typeUrl(ExecuteOperationMetadataCodec.name);
const RESPONSE_TYPE_URL = typeUrl(ExecuteResponseCodec.name);

/** Why a stream of an upstream operation stopped early, or how long to wait before trying again. */
export interface ReconnectPolicy {
  /** The retry policy's max_retries: attempts in a row that reach nothing before giving up. */
  readonly maxRetries: number;
  /** Whether the retry policy repeats this failure (retry_on_errors, else the transient codes). */
  retryable(err: unknown): boolean;
  /** Waits the policy's backoff before retry `n` (from 0). */
  backoff(n: number): Promise<void>;
}

export class ExecutionClient implements ReconnectPolicy {
  readonly maxRetries: number;
  private readonly isRetryable: (err: unknown) => boolean;

  constructor(
    readonly channel: UpstreamChannel,
    private readonly hooks: { sleep?: (ms: number) => Promise<void>; random?: () => number } = {},
  ) {
    this.maxRetries = channel.retryPolicy.max_retries;
    this.isRetryable = retryablePredicate(channel.spec.retry);
  }

  /** The upstream's address(es), for messages and `ncache status`. */
  get address(): string {
    return this.channel.addresses.join(', ');
  }

  retryable(err: unknown): boolean {
    return this.isRetryable(err);
  }

  backoff(n: number): Promise<void> {
    return (this.hooks.sleep ?? realSleep)(backoffMs(this.channel.retryPolicy, n, this.hooks.random));
  }

  /** Execute: the operation's states until done. Errors name the upstream; `signal` (or stopping the iteration) cancels the call. */
  execute(request: MessageInit<ExecuteRequest>, signal?: AbortSignal): AsyncGenerator<UpstreamOperation> {
    return this.stream(EXECUTE, request, request.instanceName ?? '', signal);
  }

  /** WaitExecution of an upstream operation (NOT_FOUND once the upstream forgot it). */
  waitExecution(name: string, instance: string, signal?: AbortSignal): AsyncGenerator<UpstreamOperation> {
    return this.stream(WAIT_EXECUTION, { name }, instance, signal);
  }

  /** Closes the channel (and with it the calls still open on it). */
  close(): void {
    this.channel.close();
  }

  /** One server stream holding a slot of max_concurrent_requests until it ends, cancelled by `signal`. */
  private async *stream<Req>(method: UpstreamMethod<Req, Operation>, request: MessageInit<Req>, instance: string, signal?: AbortSignal): AsyncGenerator<UpstreamOperation> {
    const metadata = this.channel.metadata();
    const lease = await this.channel.acquire();
    const site: CallSite = { address: lease.address, instance, rpc: method.label };
    const call = lease.client.makeServerStreamRequest(method.path, method.serialize, method.deserialize, request, metadata, {});
    const cancel = () => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      if (signal?.aborted) cancel();
      const messages: AsyncIterable<Operation> = call;
      for await (const op of messages) yield this.decode(op, site);
    } catch (err) {
      throw this.channel.failure(err, site);
    } finally {
      signal?.removeEventListener('abort', cancel);
      call.cancel();
      lease.release();
    }
  }

  private decode(op: Operation, site: CallSite): UpstreamOperation {
    const bad = (why: string) => new UpstreamError(GrpcStatus.INTERNAL, site, `operation ${JSON.stringify(op.name)}: ${why}`);
    let stage: UpstreamOperation['stage'] = 'queued';
    if (op.metadata !== null && op.metadata.typeUrl === METADATA_TYPE_URL) {
      const s = ExecuteOperationMetadataCodec.decode(op.metadata.value).stage;
      stage = s === STAGE_COMPLETED ? 'completed' : s === STAGE_EXECUTING ? 'executing' : 'queued';
    }
    if (!op.done) return { name: op.name, stage: stage === 'completed' ? 'executing' : stage };
    if (op.error !== undefined && op.error !== null) {
      const response: ExecuteResponse = { result: null, cachedResult: false, status: op.error, serverLogs: {}, message: op.error.message };
      return { name: op.name, stage: 'completed', response };
    }
    if (op.response === undefined || op.response === null) throw bad('done, but carries neither a response nor an error');
    if (op.response.typeUrl !== RESPONSE_TYPE_URL) throw bad(`done with a response of type ${op.response.typeUrl}, not ExecuteResponse`);
    try {
      return { name: op.name, stage: 'completed', response: ExecuteResponseCodec.decode(op.response.value) };
    } catch (err) {
      throw bad(`its ExecuteResponse does not decode (${err instanceof Error ? err.message : String(err)})`);
    }
  }
}
