// A small REAPI client over real @grpc/grpc-js channels, for tests and the
// benchmark: promise wrappers for every RPC and streaming ByteStream helpers
// that respect flow control. Errors are grpc-js ServiceErrors (`code`, `details`).
import {
  Channel,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  InterceptingCall,
  type Interceptor,
  type ClientReadableStream,
  type ClientWritableStream,
  type ServiceError,
  credentials,
  makeGenericClientConstructor,
} from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import {
  type ActionResult,
  type BatchReadBlobsRequest,
  type BatchReadBlobsResponse,
  type BatchUpdateBlobsRequest,
  type BatchUpdateBlobsResponse,
  type ExecuteRequest,
  type FindMissingBlobsRequest,
  type FindMissingBlobsResponse,
  type GetActionResultRequest,
  type GetTreeRequest,
  type GetTreeResponse,
  type HealthCheckResponse,
  type MessageInit,
  type Operation,
  type QueryWriteStatusResponse,
  type ReadResponse,
  type ServerCapabilities,
  type ServiceKey,
  type UpdateActionResultRequest,
  type WriteRequest,
  type WriteResponse,
  serviceDefinition,
} from '../../src/proto/reapi.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { waitFor } from './wait-for.js';

export type { ServiceError };

/** Channel options: big messages, and a large flow-control window for throughput. */
export const CLIENT_CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': 256 * 1024 * 1024,
  'grpc.max_send_message_length': 256 * 1024 * 1024,
  'grpc-node.flow_control_window': 16 * 1024 * 1024,
};

type Callback<T> = (err: ServiceError | null, value?: T) => void;
type AnyClient = Client & Record<string, (...args: unknown[]) => unknown>;

export interface WriteOptions {
  /** First write_offset (resuming an upload). Default 0. */
  offset?: number;
  /** Bytes per WriteRequest. Default 1 MiB. */
  chunkSize?: number;
  /** Send finish_write on the last message. Default true. */
  finish?: boolean;
}

/** A Write stream driven by hand: for disconnects mid-upload and protocol edge cases. */
export interface WriteHandle {
  readonly call: ClientWritableStream<MessageInit<WriteRequest>>;
  /** Settles with the server's answer (which may come before the stream is finished). */
  readonly response: Promise<WriteResponse>;
  /** Sends one message, waiting for flow control. Resolves false if the server already answered. */
  send(req: MessageInit<WriteRequest>): Promise<boolean>;
  /** Half-closes the stream. */
  end(): void;
  /** Drops the call as a disconnecting client would. */
  cancel(): void;
}

export class ReapiClient {
  readonly channel: Channel;
  private readonly clients = new Map<ServiceKey, AnyClient>();

  constructor(
    readonly address: string,
    options: ChannelOptions = {},
    /** How the channel connects: plaintext unless a test passes TLS credentials. */
    channelCredentials: ChannelCredentials = credentials.createInsecure(),
    /** Metadata sent with every call, e.g. { authorization: 'Bearer ...' }. */
    private readonly headers: Record<string, string> = {},
  ) {
    this.channel = new Channel(address, channelCredentials, { ...CLIENT_CHANNEL_OPTIONS, ...options });
  }

  private client(key: ServiceKey): AnyClient {
    let c = this.clients.get(key);
    if (!c) {
      const Ctor = makeGenericClientConstructor(serviceDefinition(key) as never, key);
      const interceptors = Object.keys(this.headers).length > 0 ? [sendHeaders(this.headers)] : [];
      c = new Ctor(this.address, credentials.createInsecure(), { channelOverride: this.channel, interceptors }) as unknown as AnyClient;
      this.clients.set(key, c);
    }
    return c;
  }

  private unary<Req, Res>(key: ServiceKey, method: string, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client(key)[method]!(req, ((err, value) => (err ? reject(err) : resolve(value as Res))) as Callback<Res>);
    });
  }

  private collect<Req, Res>(key: ServiceKey, method: string, req: Req): Promise<Res[]> {
    return new Promise((resolve, reject) => {
      const out: Res[] = [];
      const call = this.client(key)[method]!(req) as ClientReadableStream<Res>;
      call.on('data', (m: Res) => out.push(m));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
  }

  // --- CAS
  findMissingBlobs(req: MessageInit<FindMissingBlobsRequest>): Promise<FindMissingBlobsResponse> {
    return this.unary('cas', 'findMissingBlobs', req);
  }
  batchUpdateBlobs(req: MessageInit<BatchUpdateBlobsRequest>): Promise<BatchUpdateBlobsResponse> {
    return this.unary('cas', 'batchUpdateBlobs', req);
  }
  batchReadBlobs(req: MessageInit<BatchReadBlobsRequest>): Promise<BatchReadBlobsResponse> {
    return this.unary('cas', 'batchReadBlobs', req);
  }
  /** Every response of one GetTree stream. */
  getTree(req: MessageInit<GetTreeRequest>): Promise<GetTreeResponse[]> {
    return this.collect('cas', 'getTree', req);
  }

  // --- Action cache
  getActionResult(req: MessageInit<GetActionResultRequest>): Promise<ActionResult> {
    return this.unary('ac', 'getActionResult', req);
  }
  updateActionResult(req: MessageInit<UpdateActionResultRequest>): Promise<ActionResult> {
    return this.unary('ac', 'updateActionResult', req);
  }

  // --- Capabilities, execution, health
  getCapabilities(instanceName = ''): Promise<ServerCapabilities> {
    return this.unary('capabilities', 'getCapabilities', { instanceName });
  }
  execute(req: MessageInit<ExecuteRequest>): Promise<Operation[]> {
    return this.collect('execution', 'execute', req);
  }
  /** A live Execute stream: operations as they come; the caller may cancel it (a client going away). */
  executeStream(req: MessageInit<ExecuteRequest>): ClientReadableStream<Operation> {
    return this.client('execution')['execute']!(req) as ClientReadableStream<Operation>;
  }
  waitExecution(name: string): Promise<Operation[]> {
    return this.collect('execution', 'waitExecution', { name });
  }
  /** A live WaitExecution stream. */
  waitExecutionStream(name: string): ClientReadableStream<Operation> {
    return this.client('execution')['waitExecution']!({ name }) as ClientReadableStream<Operation>;
  }
  healthCheck(service = ''): Promise<HealthCheckResponse> {
    return this.unary('health', 'check', { service });
  }
  /** A live Watch stream; the caller listens to 'data' and cancels it. */
  healthWatch(service = ''): ClientReadableStream<HealthCheckResponse> {
    return this.client('health')['watch']!({ service }) as ClientReadableStream<HealthCheckResponse>;
  }

  // --- ByteStream
  /** The raw Read stream (each message's data as it arrives). */
  readStream(resourceName: string, opts: { offset?: number; limit?: number } = {}): ClientReadableStream<ReadResponse> {
    return this.client('bytestream')['read']!({
      resourceName,
      readOffset: opts.offset ?? 0,
      readLimit: opts.limit ?? 0,
    }) as ClientReadableStream<ReadResponse>;
  }

  /** Reads a whole resource into memory. */
  async read(resourceName: string, opts: { offset?: number; limit?: number } = {}): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const msg of this.readStream(resourceName, opts) as AsyncIterable<ReadResponse>) parts.push(msg.data);
    return Buffer.concat(parts);
  }

  /** Reads a resource and returns only its length and the number of messages (no buffering). */
  async readCount(resourceName: string): Promise<{ bytes: number; messages: number }> {
    let bytes = 0;
    let messages = 0;
    for await (const msg of this.readStream(resourceName) as AsyncIterable<ReadResponse>) {
      bytes += msg.data.length;
      messages++;
    }
    return { bytes, messages };
  }

  openWrite(): WriteHandle {
    let answered = false;
    let call!: ClientWritableStream<MessageInit<WriteRequest>>;
    const response = new Promise<WriteResponse>((resolve, reject) => {
      call = this.client('bytestream')['write']!(((err, value) => {
        answered = true;
        if (err) reject(err);
        else resolve(value as WriteResponse);
      }) as Callback<WriteResponse>) as ClientWritableStream<MessageInit<WriteRequest>>;
    });
    response.catch(() => {});
    const answeredOrClosed = new Promise<void>((resolve) => {
      response.then(
        () => resolve(),
        () => resolve(),
      );
      call.once('close', () => resolve());
    });
    return {
      call,
      response,
      async send(req) {
        if (answered) return false;
        if (!call.write(req)) {
          await Promise.race([new Promise((resolve) => call.once('drain', resolve)), answeredOrClosed]);
        }
        return !answered;
      },
      end() {
        if (!answered) call.end();
      },
      cancel() {
        call.cancel();
      },
    };
  }

  /**
   * Uploads `data` (a buffer or a stream of buffers) under `resourceName` in
   * chunks; stops sending as soon as the server answers (early completion).
   */
  async write(resourceName: string, data: Buffer | AsyncIterable<Buffer>, opts: WriteOptions = {}): Promise<WriteResponse> {
    const chunkSize = opts.chunkSize ?? 1024 * 1024;
    const finish = opts.finish ?? true;
    const handle = this.openWrite();
    let offset = opts.offset ?? 0;
    let first = true;
    const source: AsyncIterable<Buffer> = Buffer.isBuffer(data) ? chunks(data, chunkSize) : rechunk(data, chunkSize);
    let pending: Buffer | undefined;
    for await (const chunk of source) {
      if (pending !== undefined) {
        if (!(await handle.send({ resourceName: first ? resourceName : '', writeOffset: offset, data: pending }))) break;
        first = false;
        offset += pending.length;
      }
      pending = chunk;
    }
    // The last message carries finish_write (an empty one if there was no data).
    await handle.send({
      resourceName: first ? resourceName : '',
      writeOffset: offset,
      data: pending ?? Buffer.alloc(0),
      finishWrite: finish,
    });
    handle.end();
    return handle.response;
  }

  queryWriteStatus(resourceName: string): Promise<QueryWriteStatusResponse> {
    return this.unary('bytestream', 'queryWriteStatus', { resourceName });
  }

  /** Uploads a blob through ByteStream and returns its digest. */
  async uploadBlob(data: Buffer, instanceName = '', opts: WriteOptions = {}): Promise<Digest> {
    const digest = digestOf(data);
    await this.write(uploadName(instanceName, digest), data, opts);
    return digest;
  }

  /**
   * Uploads `compressed` (zstd of bytes whose digest is `digest`) through a
   * compressed-blobs name. write() already counts later write_offsets in
   * compressed bytes, as REAPI asks of compressed uploads.
   */
  writeCompressed(digest: Digest, compressed: Buffer | AsyncIterable<Buffer>, instanceName = '', opts: WriteOptions = {}): Promise<WriteResponse> {
    return this.write(compressedUploadName(instanceName, digest), compressed, opts);
  }

  /** Downloads a blob through ByteStream. */
  downloadBlob(digest: Digest, instanceName = ''): Promise<Buffer> {
    return this.read(blobName(instanceName, digest));
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.channel.close();
  }
}

export function createReapiClient(address: string, options?: ChannelOptions): ReapiClient {
  return new ReapiClient(address, options);
}

/** Adds `headers` to the metadata of every call. */
function sendHeaders(headers: Record<string, string>): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
        next(metadata, listener);
      },
    });
}

/** `{instance}/blobs/{hash}/{size}` */
export function blobName(instanceName: string, d: Digest): string {
  return `${instanceName ? instanceName + '/' : ''}blobs/${d.hash}/${d.sizeBytes}`;
}

/** `{instance}/uploads/{uuid}/blobs/{hash}/{size}` with a fresh uuid unless given. */
export function uploadName(instanceName: string, d: Digest, uuid: string = randomUUID()): string {
  return `${instanceName ? instanceName + '/' : ''}uploads/${uuid}/blobs/${d.hash}/${d.sizeBytes}`;
}

/** `{instance}/compressed-blobs/{compressor}/{hash}/{size}`: the digest is that of the uncompressed bytes. */
export function compressedBlobName(instanceName: string, d: Digest, compressor = 'zstd'): string {
  return `${instanceName ? instanceName + '/' : ''}compressed-blobs/${compressor}/${d.hash}/${d.sizeBytes}`;
}

/** `{instance}/uploads/{uuid}/compressed-blobs/{compressor}/{hash}/{size}` with a fresh uuid unless given. */
export function compressedUploadName(instanceName: string, d: Digest, uuid: string = randomUUID(), compressor = 'zstd'): string {
  return `${instanceName ? instanceName + '/' : ''}uploads/${uuid}/compressed-blobs/${compressor}/${d.hash}/${d.sizeBytes}`;
}

/** Starts a ByteStream upload with the first MiB of `data` and waits until the server reports holding it. */
export async function openPartialUpload(client: ReapiClient, name: string, data: Buffer): Promise<WriteHandle> {
  const h = client.openWrite();
  await h.send({ resourceName: name, writeOffset: 0, data: data.subarray(0, 1024 * 1024) });
  await waitFor(async () => ((await client.queryWriteStatus(name).catch(() => undefined))?.committedSize ?? 0) > 0, {
    what: `the server to hold the first bytes of ${name}`,
    intervalMs: 0,
  });
  return h;
}

async function* chunks(data: Buffer, size: number): AsyncIterable<Buffer> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, Math.min(data.length, off + size));
}

async function* rechunk(source: AsyncIterable<Buffer>, size: number): AsyncIterable<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of source) {
    parts.push(c);
    n += c.length;
    while (n >= size) {
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
      yield all.subarray(0, size);
      const rest = all.subarray(size);
      parts = rest.length > 0 ? [rest] : [];
      n = rest.length;
    }
  }
  if (n > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}
