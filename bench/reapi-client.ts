// A minimal promise-based REAPI client for the benchmark, built from the
// service definitions in src/proto/reapi.ts (the same codecs the daemon uses).
import * as grpc from '@grpc/grpc-js';
import {
  serviceDefinition,
  type ActionResult,
  type BatchReadBlobsResponse,
  type BatchUpdateBlobsResponse,
  type Digest,
  type FindMissingBlobsResponse,
  type ReadResponse,
  type ServerCapabilities,
  type WriteResponse,
} from '../src/proto/reapi.js';

import type { MessageInit } from '../src/proto/reapi.js';

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const OPTIONS: grpc.ClientOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  // Bazel's gRPC (grpc-java over Netty) gives each stream a 1 MiB receive window; grpc-js
  // would otherwise use HTTP/2's 64 KiB default, and reads would measure this client.
  'grpc-node.flow_control_window': 1024 * 1024,
};

function unary<T>(client: AnyClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const cb: Callback<T> = (err, value) => (err ? reject(err) : resolve(value as T));
    client[method]!(request, cb);
  });
}

export class ReapiClient {
  private readonly cas: AnyClient;
  private readonly bytestream: AnyClient;
  private readonly capabilities: AnyClient;
  private readonly ac: AnyClient;
  private readonly channel: grpc.Channel;

  /** One channel for every service; `options` add to the defaults (e.g. grpc.use_local_subchannel_pool for a connection of its own). */
  constructor(
    address: string,
    private readonly instanceName = '',
    options: grpc.ClientOptions = {},
  ) {
    const channel = new grpc.Channel(address, grpc.credentials.createInsecure(), { ...OPTIONS, ...options });
    this.channel = channel;
    const make = (key: 'cas' | 'bytestream' | 'capabilities' | 'ac') => {
      const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(key) as grpc.ServiceDefinition, key);
      return new Ctor(address, grpc.credentials.createInsecure(), { channelOverride: channel }) as unknown as AnyClient;
    };
    this.cas = make('cas');
    this.bytestream = make('bytestream');
    this.capabilities = make('capabilities');
    this.ac = make('ac');
  }

  close(): void {
    this.cas.close();
    this.bytestream.close();
    this.capabilities.close();
    this.ac.close();
    this.channel.close();
  }

  getActionResult(actionDigest: Digest): Promise<ActionResult> {
    return unary(this.ac, 'getActionResult', { instanceName: this.instanceName, actionDigest });
  }

  updateActionResult(actionDigest: Digest, actionResult: MessageInit<ActionResult>): Promise<ActionResult> {
    return unary(this.ac, 'updateActionResult', { instanceName: this.instanceName, actionDigest, actionResult });
  }

  getCapabilities(): Promise<ServerCapabilities> {
    return unary(this.capabilities, 'getCapabilities', { instanceName: this.instanceName });
  }

  findMissingBlobs(digests: Digest[]): Promise<FindMissingBlobsResponse> {
    return unary(this.cas, 'findMissingBlobs', { instanceName: this.instanceName, blobDigests: digests });
  }

  batchUpdateBlobs(blobs: { digest: Digest; data: Buffer }[]): Promise<BatchUpdateBlobsResponse> {
    return unary(this.cas, 'batchUpdateBlobs', { instanceName: this.instanceName, requests: blobs });
  }

  batchReadBlobs(digests: Digest[]): Promise<BatchReadBlobsResponse> {
    return unary(this.cas, 'batchReadBlobs', { instanceName: this.instanceName, digests });
  }

  private prefix(): string {
    return this.instanceName ? `${this.instanceName}/` : '';
  }

  /** ByteStream Write of `chunks` (which must add up to digest.sizeBytes), honouring backpressure. */
  async write(digest: Digest, chunks: Iterable<Buffer> | AsyncIterable<Buffer>, uploadId: string): Promise<WriteResponse> {
    const resourceName = `${this.prefix()}uploads/${uploadId}/blobs/${digest.hash}/${digest.sizeBytes}`;
    let call!: grpc.ClientWritableStream<unknown>;
    // The executor runs synchronously, so `call` is set when the constructor returns.
    const done = new Promise<WriteResponse>((resolve, reject) => {
      const cb: Callback<WriteResponse> = (err, value) => (err ? reject(err) : resolve(value!));
      call = this.bytestream.write!(cb) as grpc.ClientWritableStream<unknown>;
    });
    // The server may answer before the last chunk: an error, or early completion when it
    // already has the blob. Either way, stop sending.
    let finished = false;
    const settled = done.then(
      () => void (finished = true),
      () => void (finished = true),
    );
    let offset = 0;
    let first = true;
    for await (const data of chunks) {
      if (finished) break;
      const last = offset + data.length === digest.sizeBytes;
      const ok = call.write({ resourceName: first ? resourceName : '', writeOffset: offset, finishWrite: last, data });
      first = false;
      offset += data.length;
      if (!ok && !finished) {
        const drained = new Promise<void>((resolve) => call.once('drain', resolve));
        await Promise.race([drained, settled]);
      }
    }
    if (digest.sizeBytes === 0) call.write({ resourceName, writeOffset: 0, finishWrite: true, data: Buffer.alloc(0) });
    call.end();
    return done;
  }

  /** ByteStream Read; hands each chunk to `onChunk` and returns the number of bytes received. */
  read(digest: Digest, onChunk: (data: Buffer) => void = () => undefined): Promise<number> {
    const resourceName = `${this.prefix()}blobs/${digest.hash}/${digest.sizeBytes}`;
    return new Promise((resolve, reject) => {
      const call = this.bytestream.read!({ resourceName, readOffset: 0, readLimit: 0 }) as grpc.ClientReadableStream<ReadResponse>;
      let received = 0;
      call.on('data', (msg: ReadResponse) => {
        received += msg.data.length;
        onChunk(msg.data);
      });
      call.on('error', reject);
      call.on('end', () => resolve(received));
    });
  }
}
