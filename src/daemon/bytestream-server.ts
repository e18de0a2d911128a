// google.bytestream.ByteStream for CAS blobs: streamed reads with offsets and
// limits, resumable verified writes, and QueryWriteStatus.
import type { ClientStreamCall, ServerStreamCall, UnaryCallback } from './grpc-server/calls.js';
import type { ServedMethodDefinition } from './grpc-server/router.js';
import {
  type ByteStreamHandlers,
  type MessageInit,
  type QueryWriteStatusRequest,
  type QueryWriteStatusResponse,
  type ReadRequest,
  type ReadResponse,
  type WriteRequest,
  type WriteResponse,
  serviceDefinition,
} from '../proto/reapi.js';
import { type BlobFile, type StoreDriver, hasOne } from '../stores/store.js';
import { formatDigest, isEmptyDigest } from '../util/digest.js';
import { NcacheError, invalidArgument, isNotFound, notFound, outOfRange } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { StreamWriter, failStream, unaryHandler } from './call-utils.js';
import { toServiceError } from './grpc-status.js';
import type { InstanceMap } from './instances.js';
import {
  DEFAULT_READ_CHUNK_BYTES,
  LISTENER_LIMIT_DEFAULTS,
  MAX_READ_CHUNK_BYTES,
  READ_IN_FLIGHT_BYTES,
  UPLOAD_QUEUE_BYTES,
  checkUploadSize,
} from './limits.js';
import { readZstd } from './compressed-blobs/compressed-read.js';
import { receiveZstdWrite } from './compressed-blobs/compressed-write.js';
import { type UploadResource, parseReadResourceName, parseWriteResourceName } from './resource-name.js';
import { StallWatch } from './stall-watch.js';
import { ReadBufferPool, readBufferBytes, readNext } from './read-buffers.js';
import { UploadSession } from './upload-session.js';
import { decodeWritePieces } from './write-pieces.js';

export interface ByteStreamServerOptions {
  readonly stores: InstanceMap<StoreDriver>;
  readonly logger: Logger;
  /** Largest data payload per Read response (config max_bytes_per_stream). */
  readonly readChunkBytes?: number;
  /** Seconds a disconnected upload stays resumable (config persist_stream_on_disconnect_timeout). */
  readonly resumeTimeoutSeconds: number;
  /** Largest blob a Write may declare (the listener's max_upload_size). */
  readonly maxUploadBytes?: number;
  /** A Write whose client sends nothing for this long is dropped (the listener's upload_stall_timeout). */
  readonly uploadStallMs?: number;
}

/** A Read response whose data may be several store chunks, sent as they are (never concatenated). */
interface ChunkedReadResponse {
  data: Buffer | Buffer[];
}

/** The field header of ReadResponse.data (tag 10, wire type 2, varint length) for `total` bytes of data. */
function dataFieldHeader(total: number): Buffer {
  const out: number[] = [(10 << 3) | 2];
  let n = total;
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/**
 * Encodes ReadResponse { bytes data = 10 } as pieces: the field header, then
 * the chunks themselves. The listener writes the pieces out as they are, so
 * the chunks must stay untouched until HTTP/2 has sent them (the store hands
 * over chunks it no longer uses).
 */
export function encodeReadResponse(msg: ChunkedReadResponse): readonly Buffer[] {
  const parts = Array.isArray(msg.data) ? msg.data : [msg.data];
  let total = 0;
  for (const p of parts) total += p.length;
  if (total === 0) return [];
  return [dataFieldHeader(total), ...parts];
}

export class ByteStreamServer {
  private readonly stores: InstanceMap<StoreDriver>;
  private readonly logger: Logger;
  private readonly readChunkBytes: number;
  /** Buffers Read fills from open files, reused once sent (read-buffers.ts). */
  private readonly readBuffers: ReadBufferPool;
  private readonly resumeTimeoutMs: number;
  private readonly maxUploadBytes: number;
  private readonly uploadStallMs: number;
  /** Uploads in progress by upload key (resource name without trailing metadata). */
  private readonly sessions = new Map<string, UploadSession>();
  private closed = false;

  constructor(opts: ByteStreamServerOptions) {
    this.stores = opts.stores;
    this.logger = opts.logger;
    const chunk = opts.readChunkBytes && opts.readChunkBytes > 0 ? opts.readChunkBytes : DEFAULT_READ_CHUNK_BYTES;
    this.readChunkBytes = Math.min(chunk, MAX_READ_CHUNK_BYTES);
    this.readBuffers = new ReadBufferPool(readBufferBytes(this.readChunkBytes));
    this.resumeTimeoutMs = Math.max(0, opts.resumeTimeoutSeconds * 1000);
    this.maxUploadBytes = opts.maxUploadBytes ?? LISTENER_LIMIT_DEFAULTS.max_upload_size;
    this.uploadStallMs = opts.uploadStallMs ?? LISTENER_LIMIT_DEFAULTS.upload_stall_timeout * 1000;
  }

  /**
   * The service definition with Read's serializer replaced by the chunk-list
   * encoder, and Write's messages decoded from their pieces (write-pieces.ts).
   */
  definition(): Record<keyof ByteStreamHandlers, ServedMethodDefinition> {
    const base = serviceDefinition('bytestream');
    return {
      ...base,
      read: { ...base.read, responseSerialize: (msg) => encodeReadResponse(msg as ChunkedReadResponse) },
      write: { ...base.write, requestDeserializePieces: decodeWritePieces },
    } as Record<keyof ByteStreamHandlers, ServedMethodDefinition>;
  }

  handlers(): ByteStreamHandlers {
    return {
      read: (call) => {
        this.read(call).catch((err: unknown) => failStream(call, err, 'ByteStreamServer.read', this.logger));
      },
      write: (call, callback) => this.write(call, callback),
      queryWriteStatus: unaryHandler('ByteStreamServer.queryWriteStatus', this.logger, (req) =>
        this.queryWriteStatus(req),
      ),
    };
  }

  /** Number of uploads currently held open (attached or waiting for a resume). */
  get pendingUploads(): number {
    return this.sessions.size;
  }

  /** Aborts every upload still in progress (nothing partial is committed) and waits for the stores to let go. */
  async close(): Promise<void> {
    this.closed = true;
    const sessions = [...this.sessions.values()];
    for (const s of sessions) s.abort(new NcacheError('UNAVAILABLE', 'the server is shutting down'));
    await Promise.allSettled(sessions.map((s) => s.committed));
    this.sessions.clear();
  }

  // -------------------------------------------------------------------------
  // Read

  private async read(call: ServerStreamCall<ReadRequest, MessageInit<ReadResponse>>): Promise<void> {
    const req = call.request;
    const resource = parseReadResourceName(req.resourceName);
    const store = this.stores.get(resource.instanceName);
    const { digest } = resource;
    if (req.readOffset < 0) throw outOfRange(`read_offset must not be negative, got ${req.readOffset}`);
    if (req.readLimit < 0) throw invalidArgument(`read_limit must not be negative, got ${req.readLimit}`);
    if (resource.compressor !== undefined && req.readLimit !== 0) {
      throw invalidArgument('read_limit must be 0 when reading compressed-blobs');
    }
    if (req.readOffset > digest.sizeBytes) {
      throw outOfRange(`read_offset ${req.readOffset} is past the end of ${formatDigest(digest)} (${digest.sizeBytes} bytes)`);
    }
    const writer = new StreamWriter(call as unknown as ServerStreamCall<unknown, ChunkedReadResponse>, READ_IN_FLIGHT_BYTES);
    if (isEmptyDigest(digest) && resource.compressor !== 'zstd') {
      writer.end();
      return;
    }
    const limit = req.readLimit > 0 ? req.readLimit : undefined;
    let stream: AsyncIterable<Buffer>;
    try {
      if (resource.compressor === undefined) {
        const file = await store.openBlobFile?.(digest, req.readOffset, limit);
        if (file !== undefined) return await this.sendFile(writer, file);
      }
      stream = resource.compressor === 'zstd' ? await readZstd(store, digest, req.readOffset) : await store.getPart(digest, req.readOffset, limit);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`blob ${formatDigest(digest)} not found`);
      throw err;
    }
    // Store chunks are gathered into messages of up to readChunkBytes; a big
    // chunk is sliced (views, no copy), and no byte is copied on the way out.
    const messageBytes = this.readChunkBytes;
    let parts: Buffer[] = [];
    let partBytes = 0;
    const flush = async () => {
      const data = parts;
      const bytes = partBytes;
      parts = [];
      partBytes = 0;
      await writer.write({ data }, bytes);
    };
    for await (const chunk of stream) {
      let rest = chunk;
      while (rest.length > 0) {
        const take = Math.min(rest.length, messageBytes - partBytes);
        parts.push(take === rest.length ? rest : rest.subarray(0, take));
        partBytes += take;
        rest = rest.subarray(take);
        if (partBytes >= messageBytes) await flush();
      }
      if (writer.cancelled) return; // leaving the loop releases the store stream
    }
    if (partBytes > 0) await flush();
    writer.end();
  }

  /**
   * Sends an open file's range, read into the pool's buffers: each buffer is
   * cut into messages (views) and goes back to the pool once HTTP/2 has let
   * go of the last of them. The file is closed whatever happens.
   */
  private async sendFile(writer: StreamWriter<ChunkedReadResponse>, file: BlobFile): Promise<void> {
    const pool = this.readBuffers;
    const messageBytes = this.readChunkBytes;
    try {
      for (let pos = file.start; pos < file.end; ) {
        const { buf, filled } = await readNext(pool, file, pos);
        let unsent = Math.ceil(filled / messageBytes);
        const sent = () => {
          if (--unsent === 0) pool.give(buf);
        };
        // A message the writer refuses (the call is over) never counts down:
        // that buffer is left to the GC rather than risk reusing it early.
        for (let off = 0; off < filled; off += messageBytes) {
          const n = Math.min(messageBytes, filled - off);
          await writer.write({ data: buf.subarray(off, off + n) }, n, sent);
        }
        pos += filled;
        if (writer.cancelled) return;
      }
      writer.end();
    } finally {
      await file.close();
    }
  }

  // -------------------------------------------------------------------------
  // Write

  private write(
    call: ClientStreamCall<WriteRequest>,
    callback: UnaryCallback<MessageInit<WriteResponse>>,
  ): void {
    const token = {};
    let answered = false;
    let session: UploadSession | undefined;
    const respond = (err: unknown, committedSize?: number) => {
      if (answered) return;
      answered = true;
      if (err !== null && err !== undefined) callback(toServiceError(err, 'ByteStreamServer.write', this.logger));
      else callback(null, { committedSize });
    };
    this.runWrite(call, token, respond, (s) => (session = s)).catch((err: unknown) => {
      if (session !== undefined && session.owner === token) {
        if (call.cancelled) {
          // The client went away mid-upload: keep what arrived for a resume.
          this.detach(session, token);
          return;
        }
        session.abort(err instanceof Error ? err : new Error(String(err)));
      }
      respond(err);
    });
  }

  private async runWrite(
    call: ClientStreamCall<WriteRequest>,
    token: object,
    respond: (err: unknown, committedSize?: number) => void,
    setSession: (s: UploadSession) => void,
  ): Promise<void> {
    const stall = new StallWatch(this.uploadStallMs);
    try {
      await this.receiveWrite(call, token, respond, setSession, stall);
    } finally {
      stall.stop();
    }
  }

  private async receiveWrite(
    call: ClientStreamCall<WriteRequest>,
    token: object,
    respond: (err: unknown, committedSize?: number) => void,
    setSession: (s: UploadSession) => void,
    stall: StallWatch,
  ): Promise<void> {
    const messages = call[Symbol.asyncIterator]();
    const stallSeconds = this.uploadStallMs / 1000;
    const first = await stall.next(
      messages,
      () => `the Write stream sent no message within ${stallSeconds} s (listener.http.limits.upload_stall_timeout); nothing was stored`,
    );
    if (first.done) throw invalidArgument('the Write stream ended before its first message');
    const name = first.value.resourceName;
    const resource = parseWriteResourceName(name);
    const store = this.stores.get(resource.instanceName);
    const { digest } = resource;
    checkUploadSize(digest, this.maxUploadBytes, `Write ${JSON.stringify(name)}`);
    const size = digest.sizeBytes;
    // For compressed-blobs names REAPI reports an early completion as -1.
    const doneSize = resource.compressor !== undefined ? -1 : size;

    if (size === 0 && !isEmptyDigest(digest)) {
      throw invalidArgument(`${formatDigest(digest)}: a 0-byte blob always has the empty SHA-256 hash, nothing else`);
    }
    // Early completion: the blob is already stored (the empty blob always is).
    if (isEmptyDigest(digest) || (await hasOne(store, digest)) !== undefined) {
      const stale = this.sessions.get(resource.uploadKey);
      if (stale !== undefined && stale.owner === undefined) this.dropSession(stale, 'the blob is already stored');
      respond(null, doneSize);
      return;
    }
    if (this.closed) throw new NcacheError('UNAVAILABLE', 'the server is shutting down');

    const owned = this.sessionFor(resource, name, first.value.writeOffset, store);
    // No await between sessionFor's offset check and taking ownership here.
    owned.attach(token, () =>
      respond(new NcacheError('ABORTED', `a newer Write of ${JSON.stringify(name)} took over this upload`)),
    );
    setSession(owned);
    const stillOwner = () => owned.owner === token;
    if (resource.compressor === 'zstd') {
      const nextMessage = () =>
        stall.next(
          messages,
          () =>
            `the upload of ${JSON.stringify(name)} stalled: no bytes for ${stallSeconds} s after ${owned.received} of ${size} ` +
            'uncompressed (listener.http.limits.upload_stall_timeout); it was dropped and nothing was stored, start again from offset 0',
        );
      const detach = () => this.detach(owned, token);
      await receiveZstdWrite({ name, session: owned, first: first.value, next: nextMessage, stillOwner, respond, detach });
      return;
    }

    let msg: WriteRequest = first.value;
    for (;;) {
      if (msg.resourceName !== '' && msg.resourceName !== name) {
        throw invalidArgument(`resource_name changed within one Write stream: ${JSON.stringify(msg.resourceName)} after ${JSON.stringify(name)}`);
      }
      if (msg.writeOffset !== owned.received) {
        throw invalidArgument(`write_offset ${msg.writeOffset}, but ${owned.received} bytes were received so far`);
      }
      if (owned.received + msg.data.length > size) {
        throw invalidArgument(
          `received ${owned.received + msg.data.length} bytes for ${formatDigest(digest)}, more than its ${size}; nothing was stored`,
        );
      }
      await owned.push(msg.data);
      if (!stillOwner()) return;
      if (owned.state === 'committed') {
        // The store finished early (for example it already had the blob).
        respond(null, doneSize === -1 ? -1 : size);
        return;
      }
      if (msg.finishWrite) {
        if (owned.received !== size) {
          throw invalidArgument(
            `finish_write after ${owned.received} bytes, but ${formatDigest(digest)} has ${size}; nothing was stored`,
          );
        }
        await owned.committed;
        respond(null, size);
        return;
      }
      const next = await stall.next(
        messages,
        () =>
          `the upload of ${JSON.stringify(name)} stalled: no bytes for ${stallSeconds} s after ${owned.received} of ${size} ` +
          '(listener.http.limits.upload_stall_timeout); it was dropped and nothing was stored, start again from offset 0',
      );
      if (!stillOwner()) return;
      if (next.done) {
        // Half-close without finish_write: complete if every byte is here,
        // otherwise report progress and keep the upload resumable.
        if (owned.received === size) {
          await owned.committed;
          respond(null, size);
        } else {
          this.detach(owned, token);
          respond(null, owned.received);
        }
        return;
      }
      msg = next.value;
    }
  }

  /**
   * The upload session a Write starting at `writeOffset` continues: a new one
   * from offset 0, or the open one holding exactly `writeOffset` bytes.
   * Synchronous, so no other Write can take the session between this check
   * and the caller's attach.
   */
  private sessionFor(resource: UploadResource, name: string, writeOffset: number, store: StoreDriver): UploadSession {
    const open = this.sessions.get(resource.uploadKey);
    if (open !== undefined && open.state === 'open') {
      if (writeOffset !== open.received) {
        throw invalidArgument(
          `write_offset ${writeOffset} for ${JSON.stringify(name)} does not match the committed size ` +
            `${open.received}; ask QueryWriteStatus and resume from there`,
        );
      }
      return open;
    }
    if (writeOffset !== 0) {
      throw invalidArgument(
        `write_offset ${writeOffset} for ${JSON.stringify(name)}, but no bytes of this upload are held ` +
          '(committed size 0); start again from offset 0',
      );
    }
    // A store that checks the hash itself (verify with verify_hash) rejects a mismatch before committing:
    // hashing in the session as well would only cost CPU.
    const created = new UploadSession(resource.uploadKey, resource.digest, store, UPLOAD_QUEUE_BYTES, store.checksUploadHash?.() !== true);
    this.sessions.set(resource.uploadKey, created);
    created.committed.then(
      () => this.forget(created),
      () => this.forget(created),
    );
    return created;
  }

  private detach(session: UploadSession, token: object): void {
    session.detach(token, this.resumeTimeoutMs, () =>
      this.dropSession(session, `no Write resumed it within ${this.resumeTimeoutMs / 1000} s`),
    );
  }

  private dropSession(session: UploadSession, why: string): void {
    session.abort(new NcacheError('ABORTED', `upload of ${formatDigest(session.digest)} abandoned: ${why}`));
    this.forget(session);
  }

  private forget(session: UploadSession): void {
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
  }

  // -------------------------------------------------------------------------
  // QueryWriteStatus

  async queryWriteStatus(req: QueryWriteStatusRequest): Promise<MessageInit<QueryWriteStatusResponse>> {
    const resource = parseWriteResourceName(req.resourceName);
    const store = this.stores.get(resource.instanceName);
    const session = this.sessions.get(resource.uploadKey);
    if (session !== undefined && session.state === 'open') {
      return { committedSize: session.received, complete: false };
    }
    if (isEmptyDigest(resource.digest) || (await hasOne(store, resource.digest)) !== undefined) {
      return { committedSize: resource.digest.sizeBytes, complete: true };
    }
    throw notFound(`no upload in progress for ${JSON.stringify(req.resourceName)} and the blob is not stored`);
  }
}
