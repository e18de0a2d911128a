// UpstreamChannel: ncache as a client of another REAPI server (NativeLink,
// Buildbarn, BuildBuddy, another ncache). Built from an UpstreamConnectionSpec:
// connections_per_endpoint grpc-js clients (each its own TCP connection) per
// endpoint, used in turn; every call holds a slot of max_concurrent_requests
// (0: unlimited) and of its endpoint's concurrency_limit; the metadata carries
// the bearer token (token_file, re-read when it changes) and `headers`; unary
// calls get rpc_timeout_s as their deadline and are retried per `retry`, each
// attempt on the next connection, so a dead endpoint fails over. Errors become
// NcacheErrors naming the endpoint, the instance and the RPC (errors.ts).
//
// The typed wrappers (cas-client.ts, ac-client.ts, bytestream-client.ts, ...)
// are built on unary/serverStream/clientStream; a new service needs only an
// upstreamMethod() descriptor (methods.ts).
import { type CallOptions, type ChannelCredentials, Client, type ClientWritableStream, Metadata } from '@grpc/grpc-js';
import type { UpstreamConnectionSpec, UpstreamEndpointSpec } from '../config/types.js';
import type { MessageInit } from '../proto/reapi.js';
import { Limiter } from '../util/concurrency.js';
import { NcacheError, errorCode, errorMessage, internal } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { type RetryHooks, type RetryPolicy, backoffMs, realSleep, retryWithBackoff } from '../util/retry.js';
import { BearerTokenFile } from './bearer-token.js';
import { type ClientStreamCall, FlowControlledCall } from './client-stream.js';
import { channelTarget, endpointChannelOptions, endpointCredentials } from './credentials.js';
import { type CallSite, describeCall, retryablePredicate, upstreamError } from './errors.js';
import type { UpstreamMethod } from './methods.js';

export interface UpstreamChannelOptions {
  /** Where the connection block sits in the config ("stores[2].grpc"), for messages. */
  readonly configPath: string;
  readonly logger?: Logger;
  /** Injected by tests: backoff sleep, jitter source, the clock the token file is checked by. */
  readonly sleep?: RetryHooks['sleep'];
  readonly random?: RetryHooks['random'];
  readonly now?: () => number;
}

/** One connection: a grpc-js client on its own channel to one endpoint. */
interface Connection {
  readonly address: string;
  readonly client: Client;
  /** The endpoint's concurrency_limit, shared by its connections. */
  readonly endpointSlots: Limiter | undefined;
}

/** A connection held for one call; release() gives its slots back (twice is harmless). */
export interface Lease {
  readonly address: string;
  readonly client: Client;
  release(): void;
}

export interface UpstreamCounters {
  /** Calls started (each retry is another). */
  requests: number;
  retries: number;
  /** Calls that ended with an error status (a NOT_FOUND answer included). */
  errors: number;
}

/** The endpoint's credentials; a TLS file that cannot be read (gone since the config was checked) is named with its field. */
function credentialsOf(endpoint: UpstreamEndpointSpec, path: string): ChannelCredentials {
  try {
    return endpointCredentials(endpoint);
  } catch (err) {
    throw new NcacheError('FAILED_PRECONDITION', `${path}: ${errorMessage(err)}`, { cause: err });
  }
}

export class UpstreamChannel {
  /** The endpoints' addresses as configured. */
  readonly addresses: readonly string[];
  readonly retryPolicy: RetryPolicy;
  private readonly connections: Connection[] = [];
  private readonly slots: Limiter | undefined;
  private readonly token: BearerTokenFile | undefined;
  private readonly isRetryable: (err: unknown) => boolean;
  private next = 0;
  private closed = false;
  private readonly counts: UpstreamCounters = { requests: 0, retries: 0, errors: 0 };

  constructor(
    readonly spec: UpstreamConnectionSpec,
    private readonly options: UpstreamChannelOptions,
  ) {
    if (spec.endpoints.length === 0) throw internal(`${options.configPath}.endpoints: no endpoint to connect to`);
    this.addresses = spec.endpoints.map((e) => e.address);
    this.retryPolicy = spec.retry;
    this.isRetryable = retryablePredicate(spec.retry);
    this.slots = spec.max_concurrent_requests > 0 ? new Limiter(spec.max_concurrent_requests) : undefined;
    if (spec.token_file !== undefined) {
      this.token = new BearerTokenFile(spec.token_file, `${options.configPath}.token_file`, options.now);
    }
    const perEndpoint = spec.endpoints.map((endpoint, i) => ({
      endpoint,
      slots: endpoint.concurrency_limit > 0 ? new Limiter(endpoint.concurrency_limit) : undefined,
      target: channelTarget(endpoint.address),
      creds: credentialsOf(endpoint, `${options.configPath}.endpoints[${i}].tls_config`),
      options: endpointChannelOptions(endpoint),
    }));
    // Interleaved (a0 b0 a1 b1 ...), so taking them in turn alternates endpoints and a retry goes elsewhere.
    for (let i = 0; i < Math.max(1, spec.connections_per_endpoint); i++) {
      for (const e of perEndpoint) {
        this.connections.push({ address: e.endpoint.address, client: new Client(e.target, e.creds, e.options), endpointSlots: e.slots });
      }
    }
  }

  /** "upstream grpc://a:1" (or every address, comma-separated), for messages that concern no one call. */
  get description(): string {
    return `upstream ${this.addresses.join(', ')}`;
  }

  counters(): UpstreamCounters {
    return { ...this.counts };
  }

  /** A message prefix for a call at an address: `upstream grpc://a:1 (instance "x") Service.Method`. */
  describeCall(site: CallSite): string {
    return describeCall(site);
  }

  /** The metadata of one call: the bearer token (re-read if its file changed) and the fixed headers. */
  metadata(): Metadata {
    const md = new Metadata();
    for (const [key, value] of Object.entries(this.spec.headers)) md.set(key, value);
    if (this.token) md.set('authorization', `Bearer ${this.token.current()}`);
    return md;
  }

  /** Call options of a unary call: the rpc_timeout_s deadline. */
  unaryOptions(): CallOptions {
    return this.spec.rpc_timeout_s > 0 ? { deadline: Date.now() + this.spec.rpc_timeout_s * 1000 } : {};
  }

  /** The next connection in turn, once a slot of max_concurrent_requests and of its endpoint are free. */
  async acquire(): Promise<Lease> {
    if (this.closed) throw internal(`${this.description}: the channel is closed`);
    const conn = this.connections[this.next++ % this.connections.length]!;
    const releaseGlobal = this.slots ? await this.slots.acquire() : undefined;
    const releaseEndpoint = conn.endpointSlots ? await conn.endpointSlots.acquire() : undefined;
    this.counts.requests++;
    return {
      address: conn.address,
      client: conn.client,
      release: () => {
        releaseEndpoint?.();
        releaseGlobal?.();
      },
    };
  }

  /** Runs `attempt` under the retry policy (retry_on_errors, or the transient codes), counting retries. */
  withRetry<T>(attempt: (n: number) => Promise<T>): Promise<T> {
    return retryWithBackoff(attempt, this.retryPolicy, {
      sleep: this.options.sleep,
      random: this.options.random,
      isRetryable: this.isRetryable,
      onRetry: (info) => {
        this.counts.retries++;
        this.options.logger?.debug('retrying an upstream call', { error: String(info.error), waitMs: Math.round(info.waitMs) });
      },
    });
  }

  /** Whether the retry policy repeats this failure (for callers that resume streams themselves). */
  retryable(err: unknown): boolean {
    return this.isRetryable(err) && errorCode(err) !== 'NOT_FOUND' && errorCode(err) !== 'INVALID_ARGUMENT';
  }

  /** Waits the policy's backoff before retry `retry` (from 0) of a resumed stream, counting it. */
  async backoff(retry: number): Promise<void> {
    this.counts.retries++;
    await (this.options.sleep ?? realSleep)(backoffMs(this.retryPolicy, retry, this.options.random));
  }

  /** Maps any error of a call at `site` (counted) to an NcacheError naming it. */
  failure(err: unknown, site: CallSite): Error {
    this.counts.errors++;
    return upstreamError(err, site);
  }

  /** One unary call with the deadline, retried per the policy; `instance` only names the call in messages. */
  unary<Req, Res>(method: UpstreamMethod<Req, Res>, request: MessageInit<Req>, instance?: string): Promise<Res> {
    return this.withRetry(() => this.unaryOnce(method, request, instance));
  }

  private async unaryOnce<Req, Res>(method: UpstreamMethod<Req, Res>, request: MessageInit<Req>, instance?: string): Promise<Res> {
    const metadata = this.metadata();
    const lease = await this.acquire();
    const site: CallSite = { address: lease.address, instance, rpc: method.label };
    try {
      return await new Promise<Res>((resolve, reject) => {
        lease.client.makeUnaryRequest(method.path, method.serialize, method.deserialize, request, metadata, this.unaryOptions(), (err, value) => {
          if (err) reject(this.failure(err, site));
          else if (value === undefined) reject(this.failure(new Error('no response message'), site));
          else resolve(value);
        });
      });
    } finally {
      lease.release();
    }
  }

  /**
   * One server-streaming call (no retry: the caller knows how to resume, e.g.
   * a ByteStream read from the bytes it has). The slot is held until the
   * stream ends or the consumer stops; stopping cancels the call.
   */
  async *serverStream<Req, Res>(method: UpstreamMethod<Req, Res>, request: MessageInit<Req>, instance?: string): AsyncGenerator<Res> {
    const metadata = this.metadata();
    const lease = await this.acquire();
    const site: CallSite = { address: lease.address, instance, rpc: method.label };
    const call = lease.client.makeServerStreamRequest(method.path, method.serialize, method.deserialize, request, metadata, {});
    try {
      const messages: AsyncIterable<Res> = call;
      for await (const message of messages) yield message;
    } catch (err) {
      throw this.failure(err, site);
    } finally {
      call.cancel();
      lease.release();
    }
  }

  /** One client-streaming call (no retry: see ByteStream writes for resumption), holding its slot until it settles. */
  async clientStream<Req, Res>(method: UpstreamMethod<Req, Res>, instance?: string): Promise<ClientStreamCall<Req, Res>> {
    const metadata = this.metadata();
    const lease = await this.acquire();
    const site: CallSite = { address: lease.address, instance, rpc: method.label };
    let call: ClientWritableStream<MessageInit<Req>> | undefined;
    const response = new Promise<Res>((resolve, reject) => {
      call = lease.client.makeClientStreamRequest(method.path, method.serialize, method.deserialize, metadata, {}, (err, value) => {
        lease.release();
        if (err) reject(this.failure(err, site));
        else if (value === undefined) reject(this.failure(new Error('no response message'), site));
        else resolve(value);
      });
    });
    if (call === undefined) throw internal(`${describeCall(site)}: grpc-js started no call`);
    return new FlowControlledCall<Req, Res>(call, response, lease.address);
  }

  close(): void {
    this.closed = true;
    for (const conn of this.connections) conn.client.close();
  }
}
