// Bazel's HTTP/1.1 remote cache protocol (bazel-remote's layout) over the
// same stores the gRPC services use: GET, HEAD and PUT of /ac/<sha256> and
// /cas/<sha256>, optionally under /<instance>/. Bodies stream between the
// socket and the store; a CAS upload is hashed on the way and committed only
// when it matches its name. Action results go through the AcServer's own
// read and write, so the completeness rule and the checks are GetActionResult's.
import { GrpcStatus } from '../../util/grpc-codes.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type ActionResult, ActionResultCodec, TreeCodec } from '../../proto/reapi.js';
import { type BlobFile, type ByteStream, type StoreDriver, readBuffer } from '../../stores/store.js';
import { VerifyStore } from '../../stores/verify-store.js';
import { type Digest, EMPTY_SHA256 } from '../../util/digest.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import type { AcServer } from '../ac-server.js';
import { type ListenerAuth, checkAccess } from '../auth/listener-auth.js';
import type { InstanceMap } from '../instances.js';
import { type ListenerLimits, MAX_METADATA_BLOB_BYTES } from '../limits.js';
import type { MethodMetrics, Metrics } from '../metrics.js';
import { ReadBufferPool, readNext } from '../read-buffers.js';
import { BlobSizes } from './blob-sizes.js';
import { parseByteRange } from './byte-range.js';
import { HttpError, httpStatusOf, isUnexpected, metricsCodeOf } from './http-status.js';
import { type RequestTarget, parseRequestTarget } from './request-target.js';

export interface HttpCacheOptions {
  /** The CAS store of each instance; undefined when the listener serves no cas. */
  readonly cas: InstanceMap<StoreDriver> | undefined;
  /** The action cache (its instances, stores and read_only); undefined when the listener serves no ac. */
  readonly ac: AcServer | undefined;
  readonly limits: Pick<ListenerLimits, 'maxUploadBytes'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Set when the listener has `auth`: every request passes checkAccess first. */
  readonly auth?: ListenerAuth;
  readonly blobSizes?: BlobSizes;
}

const METHODS = new Set(['GET', 'HEAD', 'PUT']);
/** GET bodies are read from disk in pieces of this size. */
const READ_BUFFER_BYTES = 256 * 1024;
const ALLOW = 'GET, HEAD, PUT';

/**
 * Over HTTP an action is named by its hash alone, so its action-cache key
 * has size 0 (gRPC clients key by hash and size: the two protocols keep
 * separate action results over one shared CAS).
 */
export function httpActionKey(hash: string): Digest {
  return { hash, sizeBytes: 0 };
}

export class HttpCacheServer {
  private readonly blobSizes: BlobSizes;
  /** Buffers GET bodies are read into from open files, reused once the socket has taken them. */
  private readonly readBuffers = new ReadBufferPool(READ_BUFFER_BYTES);

  constructor(private readonly opts: HttpCacheOptions) {
    this.blobSizes = opts.blobSizes ?? new BlobSizes();
  }

  /** The request listener for node:http / node:https. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const asked = req.method ?? '';
    const method = METHODS.has(asked) ? asked : 'OTHER';
    let counter = this.counter(`${method} invalid`);
    let target: RequestTarget;
    // Counted when the response is done (or the client gave up on it: 499).
    res.once('close', () => {
      const status = res.writableFinished ? res.statusCode : 499;
      const code = metricsCodeOf(status);
      if (counter.hitUnit !== undefined) {
        if (status === 200 || status === 206) counter.hits += 1;
        else if (status === 404) counter.misses += 1;
      }
      counter.finish(code, performance.now() - started);
    });
    try {
      if (method === 'OTHER') {
        throw new HttpError(405, `method ${JSON.stringify(req.method)} is not served: the HTTP cache protocol uses ${ALLOW}`, { allow: ALLOW });
      }
      this.checkAuth(req, method);
      target = parseRequestTarget(req.url ?? '');
      counter = this.counter(`${method} ${target.namespace}`);
      counter.requests += 1;
    } catch (err) {
      counter.requests += 1;
      this.fail(req, res, err);
      return;
    }
    const served = target.namespace === 'cas' ? this.serveCas(req, res, method, target, counter) : this.serveAc(req, res, method, target, counter);
    served.catch((err: unknown) => this.fail(req, res, err));
  };

  private counter(name: string): MethodMetrics {
    return this.opts.metrics.forPath(`/http_cache/${name}`);
  }

  private checkAuth(req: IncomingMessage, method: string): void {
    const auth = this.opts.auth;
    if (auth === undefined) return;
    const header = req.headers.authorization;
    const refusal = checkAccess(method === 'PUT' ? 'write' : 'read', `${method} ${req.url ?? ''}`, header === undefined ? [] : [header], auth);
    if (refusal === undefined) return;
    const status = refusal.code === GrpcStatus.UNAUTHENTICATED ? 401 : refusal.code === GrpcStatus.PERMISSION_DENIED ? 403 : 503;
    throw new HttpError(status, refusal.details, status === 401 ? { 'www-authenticate': 'Bearer realm="ncache"' } : {});
  }

  private async serveCas(req: IncomingMessage, res: ServerResponse, method: string, target: RequestTarget, counter: MethodMetrics): Promise<void> {
    const cas = this.opts.cas;
    if (cas === undefined) throw new HttpError(404, `${req.url}: this listener serves no cas (servers[].services.cas)`);
    const store = cas.get(target.instance);
    if (method === 'PUT') return this.putBlob(req, res, store, target.hash, counter);
    const key = this.blobSizes.digest(target.hash);
    if (key === undefined) {
      throw new HttpError(404, `blob ${target.hash} not found (no upload or action result over HTTP named its size since the daemon started)`);
    }
    if (method === 'HEAD') {
      const [size] = key.hash === EMPTY_SHA256 ? [0] : await store.has([key]);
      if (size === undefined) throw new HttpError(404, `blob ${target.hash}/${key.sizeBytes} not found`);
      return sendHead(res, size);
    }
    if (key.hash === EMPTY_SHA256) return sendBuffer(req, res, Buffer.alloc(0), counter);
    if (this.blobSizes.isTree(key.hash) && key.sizeBytes <= MAX_METADATA_BLOB_BYTES) {
      // An output tree: Bazel fetches the files it lists next, so learn their sizes on the way.
      const bytes = await readBuffer(store, key, MAX_METADATA_BLOB_BYTES);
      try {
        this.blobSizes.learnTree(TreeCodec.decode(bytes));
      } catch (err) {
        this.opts.logger.warn(`http_cache: output tree ${target.hash} does not decode as a Tree: ${errorMessage(err)}`);
      }
      return sendBuffer(req, res, bytes, counter);
    }
    const range = parseByteRange(req.headers.range, key.sizeBytes);
    const offset = range?.start ?? 0;
    const length = range === undefined ? key.sizeBytes : range.end - range.start + 1;
    // An open file is read into reused buffers (read-buffers.ts); any other store streams its own chunks.
    const file = await store.openBlobFile?.(key, offset, length);
    const stream = file === undefined ? await store.getPart(key, offset, length) : undefined;
    res.writeHead(range === undefined ? 200 : 206, {
      'content-type': 'application/octet-stream',
      'content-length': length,
      'accept-ranges': 'bytes',
      ...(range === undefined ? {} : { 'content-range': `bytes ${range.start}-${range.end}/${key.sizeBytes}` }),
    });
    if (file !== undefined) await sendFile(res, file, this.readBuffers, counter);
    else await sendStream(res, stream!, counter);
  }

  /** PUT /cas/<hash>: streamed into the store, committed only if the bytes hash to the name. */
  private async putBlob(req: IncomingMessage, res: ServerResponse, store: StoreDriver, hash: string, counter: MethodMetrics): Promise<void> {
    const size = declaredLength(req, this.opts.limits.maxUploadBytes, 'listener.http_cache.limits.max_upload_size');
    continueBody(req, res);
    const key: Digest = { hash, sizeBytes: size };
    const [present] = await store.has([key]);
    const body = counted(req, counter, 'bytesIn');
    if (present !== undefined) {
      // Nothing to store, but the body is read (and checked) so the connection stays usable.
      await new VerifyStore(discard, { verifySize: true, verifyHash: true }).update(key, body, size);
    } else {
      // A store that checks hashes itself (verify) needs no second check; any other gets one here.
      const sink = store.checksUploadHash?.() === true ? store : new VerifyStore(store, { verifySize: true, verifyHash: true });
      await sink.update(key, body, size);
    }
    this.blobSizes.learn(key);
    sendEmpty(res);
  }

  private async serveAc(req: IncomingMessage, res: ServerResponse, method: string, target: RequestTarget, counter: MethodMetrics): Promise<void> {
    const ac = this.opts.ac;
    if (ac === undefined) throw new HttpError(404, `${req.url}: this listener serves no ac (servers[].services.ac)`);
    const key = httpActionKey(target.hash);
    if (method === 'PUT') {
      const size = declaredLength(req, MAX_METADATA_BLOB_BYTES, 'the largest action result ncache reads whole');
      continueBody(req, res);
      const body = await readBody(counted(req, counter, 'bytesIn'), size);
      let result: ActionResult;
      try {
        result = ActionResultCodec.decode(body);
      } catch (err) {
        throw new HttpError(400, `PUT ${req.url}: the body is not an encoded ActionResult (${errorMessage(err)}); nothing was stored`);
      }
      await ac.writeResult(target.instance, key, result);
      this.blobSizes.learnActionResult(result);
      return sendEmpty(res);
    }
    const result = await ac.readResult(target.instance, key);
    this.blobSizes.learnActionResult(result);
    const bytes = ActionResultCodec.encode(result);
    if (method === 'HEAD') return sendHead(res, bytes.length);
    return sendBuffer(req, res, bytes, counter);
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const status = httpStatusOf(err);
    const message = `${req.method} ${req.url ?? ''}: ${errorMessage(err)}`;
    if (isUnexpected(err)) this.opts.logger.error(`http_cache: ${message}`, { stack: err instanceof Error ? err.stack : undefined });
    else this.opts.logger.debug(`http_cache: ${status} ${message}`);
    if (res.headersSent || res.destroyed) {
      // Part of a body went out: cutting the connection is the only way to say it is not whole.
      res.destroy();
      return;
    }
    const body = Buffer.from(`${errorMessage(err)}\n`);
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': body.length,
      ...(err instanceof HttpError ? err.headers : {}),
    };
    // An unread request body (a refused upload) would have to be read to reuse the connection: close it instead.
    if (!req.complete) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

/** A store that accepts and forgets: the sink for a body whose blob is already present. */
const discard: StoreDriver = {
  kind: 'discard',
  has: async (keys) => keys.map(() => undefined),
  update: async (_key, source) => {
    for await (const _ of source);
  },
  getPart: async () => {
    throw new HttpError(500, 'nothing is kept here');
  },
};

/**
 * The Content-Length of an upload: required (Bazel always sends it), and at
 * most `max` (413 before a byte is read; `limit` names the setting).
 */
function declaredLength(req: IncomingMessage, max: number, limit: string): number {
  const header = req.headers['content-length'];
  if (header === undefined) {
    throw new HttpError(411, `PUT ${req.url} has no Content-Length; uploads must declare their size (chunked bodies are not accepted)`);
  }
  if (!/^\d{1,16}$/.test(header)) throw new HttpError(400, `PUT ${req.url}: Content-Length ${JSON.stringify(header)} is not a byte count`);
  const size = Number(header);
  if (size > max) throw new HttpError(413, `PUT ${req.url} declares ${size} bytes, over the limit of ${max} (${limit}); nothing was stored`);
  return size;
}

/**
 * A client that sent `Expect: 100-continue` waits for this before sending
 * its body; it is sent only once the request's checks passed, so a refused
 * upload (413, 401, ...) is answered before a byte of the body travels.
 */
function continueBody(req: IncomingMessage, res: ServerResponse): void {
  if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
}

/** A small body whole (an action result, bounded by declaredLength). */
async function readBody(source: ByteStream, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of source) {
    parts.push(chunk);
    total += chunk.length;
  }
  if (total !== size) throw new HttpError(400, `the body ended after ${total} of its ${size} bytes; nothing was stored`);
  return Buffer.concat(parts, total);
}

/** The bytes of `source`, added to the counter's bytesIn or bytesOut as they pass. */
async function* counted(source: AsyncIterable<Buffer>, counter: MethodMetrics, field: 'bytesIn' | 'bytesOut'): ByteStream {
  for await (const chunk of source) {
    counter[field] += chunk.length;
    yield chunk;
  }
}

/** 200 for a stored upload (Bazel 4 accepts 200, 201, 202 and 204; 200 is what every version takes). */
function sendEmpty(res: ServerResponse): void {
  res.writeHead(200, { 'content-length': 0 });
  res.end();
}

function sendHead(res: ServerResponse, size: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'accept-ranges': 'bytes' });
  res.end();
}

/**
 * Writes a store's stream to the response, waiting for 'drain' when the
 * socket's buffer is full, so a slow client slows the read instead of
 * filling memory. A client gone mid-body ends the loop, which releases the
 * store's file. (A loop rather than stream.pipeline: pipeline builds and
 * aborts an AbortController per call, a measurable cost per small blob.)
 */
async function sendStream(res: ServerResponse, stream: ByteStream, counter: MethodMetrics): Promise<void> {
  for await (const chunk of stream) {
    if (res.destroyed) throw new HttpError(499, 'the client closed the connection before the whole blob was sent');
    counter.bytesOut += chunk.length;
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
}

/**
 * Writes an open file's range to the response through the pool's buffers.
 * Each buffer goes back to the pool from the write's callback, which Node
 * calls once the socket has written the bytes or dropped them with the
 * connection; a buffer whose write never calls back is left to the GC. The
 * file is closed whatever happens.
 */
async function sendFile(res: ServerResponse, file: BlobFile, pool: ReadBufferPool, counter: MethodMetrics): Promise<void> {
  try {
    for (let pos = file.start; pos < file.end; ) {
      if (res.destroyed) throw new HttpError(499, 'the client closed the connection before the whole blob was sent');
      const { buf, filled } = await readNext(pool, file, pos);
      counter.bytesOut += filled;
      pos += filled;
      if (!res.write(buf.subarray(0, filled), () => pool.give(buf))) await drained(res);
    }
    res.end();
  } finally {
    await file.close();
  }
}

/** Resolves at the response's next 'drain'; rejects if it closes first. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (closed: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (closed) reject(new HttpError(499, 'the client closed the connection before the whole blob was sent'));
      else resolve();
    };
    const onDrain = settle(false);
    const onClose = settle(true);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** A value already in memory (an action result, a tree), whole or the range asked for. */
function sendBuffer(req: IncomingMessage, res: ServerResponse, bytes: Buffer, counter: MethodMetrics): void {
  const range = parseByteRange(req.headers.range, bytes.length);
  const body = range === undefined ? bytes : bytes.subarray(range.start, range.end + 1);
  res.writeHead(range === undefined ? 200 : 206, {
    'content-type': 'application/octet-stream',
    'content-length': body.length,
    'accept-ranges': 'bytes',
    ...(range === undefined ? {} : { 'content-range': `bytes ${range.start}-${range.end}/${bytes.length}` }),
  });
  counter.bytesOut += body.length;
  res.end(body);
}
