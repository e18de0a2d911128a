// experimental_cloud_object_store (provider "aws"): values as S3 objects named
// key_prefix + "<hash>-<size>".
//
// Transfers stream. Memory is bounded by design:
// - a value up to `singlePutMaxBytes` (max_retry_buffer_per_request, capped at
//   the part size) is buffered whole and sent as one PutObject, so a retry can
//   replay it (a stream already consumed cannot be re-read);
// - anything larger goes multipart: parts of `partSizeBytes`, each buffered so it
//   can be retried alone, at most multipart_max_concurrent_uploads in flight
//   (memory: part size x that count per upload). Any failure, including a
//   source that ends short or runs long, aborts the upload: S3 never shows a
//   partial object.
// - reads are ranged GETs; a body that breaks mid-way resumes with a new GET
//   from the last byte received (counted as a retry).
// Every request takes a slot of one shared limiter (additional_max_concurrent_requests)
// from sending until its response headers arrive.
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { CloudObjectStoreSpec } from '../config/types.js';
import { Limiter } from '../util/concurrency.js';
import { type Digest, digestKey, parseDigestKey } from '../util/digest.js';
import { NcacheError, errorMessage, isNotFound, notFound, unavailable } from '../util/errors.js';
import { type RetryHooks, backoffMs, realSleep, retryWithBackoff } from '../util/retry.js';
import { s3Location } from './s3/client.js';
import { type S3Op, isRetryableS3, s3Error } from './s3/errors.js';
import type { StoreContext } from './store-context.js';
import { type ByteStream, type StoreDriver, type StoreEntry, checkRange, exactSize } from './store.js';
import type { CloudObjectStats } from './store-stats.js';

const MIB = 1024 * 1024;
/** S3's smallest allowed part (except the last). */
export const S3_MIN_PART_SIZE = 5 * MIB;
export const DEFAULT_PART_SIZE = 16 * MIB;

export interface CloudObjectStoreTuning {
  /** Multipart part size (default 16 MiB; S3 needs >= 5 MiB, tests may go lower against s3rver). */
  partSizeBytes?: number;
  /** Largest value sent as a single buffered PutObject (default min(max_retry_buffer_per_request, part size)). */
  singlePutMaxBytes?: number;
  /** Injected for tests: backoff sleep and jitter source. */
  sleep?: RetryHooks['sleep'];
  random?: RetryHooks['random'];
}

const GRPC_NAME_TO_CODE: Record<string, string> = {
  Unavailable: 'UNAVAILABLE',
  DeadlineExceeded: 'DEADLINE_EXCEEDED',
  ResourceExhausted: 'RESOURCE_EXHAUSTED',
  Aborted: 'ABORTED',
  Internal: 'INTERNAL',
  Unknown: 'INTERNAL',
  PermissionDenied: 'PERMISSION_DENIED',
  FailedPrecondition: 'FAILED_PRECONDITION',
};

export class CloudObjectStore implements StoreDriver {
  readonly kind = 'experimental_cloud_object_store';
  private readonly limiter: Limiter;
  private readonly partSize: number;
  private readonly singlePutMax: number;
  private readonly isRetryable: (err: unknown) => boolean;
  private readonly requests = new Map<S3Op, number>();
  private retries = 0;
  private bytesUp = 0;
  private bytesDown = 0;
  private abortFailures = 0;

  constructor(
    private readonly spec: CloudObjectStoreSpec,
    private readonly client: S3Client,
    private readonly ctx: StoreContext,
    private readonly tuning: CloudObjectStoreTuning = {},
  ) {
    this.limiter = new Limiter(spec.additional_max_concurrent_requests);
    this.partSize = tuning.partSizeBytes ?? DEFAULT_PART_SIZE;
    this.singlePutMax = tuning.singlePutMaxBytes ?? Math.min(spec.max_retry_buffer_per_request, this.partSize);
    const codes = spec.retry.retry_on_errors;
    this.isRetryable =
      codes === undefined
        ? isRetryableS3
        : (err) => err instanceof NcacheError && codes.some((name) => GRPC_NAME_TO_CODE[name] === err.code);
  }

  /** The resolved endpoint, bucket and prefix (an endpoint from the environment is not in the spec). */
  remoteLocation(): string {
    return s3Location(this.spec, this.ctx.env ?? {});
  }

  objectKey(key: Digest): string {
    return this.spec.key_prefix + digestKey(key);
  }

  // ---------------------------------------------------------------------------
  // has

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return Promise.all(keys.map((key) => this.headSize(key)));
  }

  /** Size of the object, or undefined when missing or expired. */
  private async headSize(key: Digest): Promise<number | undefined> {
    const objectKey = this.objectKey(key);
    try {
      const out = await this.call('HeadObject', objectKey, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.spec.bucket, Key: objectKey })),
      );
      if (this.isExpired(out.LastModified)) return undefined;
      return out.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** consider_expired_after_s > 0: an object older than that may be deleted any moment by a lifecycle rule. */
  private isExpired(lastModified: Date | undefined): boolean {
    const limit = this.spec.consider_expired_after_s;
    if (limit <= 0 || lastModified === undefined) return false;
    return this.ctx.clock.now() - lastModified.getTime() > limit * 1000;
  }

  // ---------------------------------------------------------------------------
  // update

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    const objectKey = this.objectKey(key);
    const checked = exactSize(source, size, `S3 upload of s3://${this.spec.bucket}/${objectKey}`);
    if (size <= this.singlePutMax) {
      await this.putSmall(objectKey, checked, size);
    } else {
      await this.putMultipart(objectKey, checked, size);
    }
  }

  private async putSmall(objectKey: string, source: ByteStream, size: number): Promise<void> {
    // Buffered (small by construction) so a retry can send the same bytes again.
    const chunks: Buffer[] = [];
    for await (const chunk of source) chunks.push(chunk);
    const body = Buffer.concat(chunks, size);
    await this.call('PutObject', objectKey, () =>
      this.client.send(
        new PutObjectCommand({ Bucket: this.spec.bucket, Key: objectKey, Body: body, ContentLength: size }),
      ),
    );
    this.bytesUp += size;
  }

  private async putMultipart(objectKey: string, source: ByteStream, size: number): Promise<void> {
    const bucket = this.spec.bucket;
    const created = await this.call('CreateMultipartUpload', objectKey, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: objectKey })),
    );
    const uploadId = created.UploadId;
    if (uploadId === undefined) throw unavailable(`S3 CreateMultipartUpload s3://${bucket}/${objectKey}: no UploadId in the answer`);

    const parts: { PartNumber: number; ETag: string }[] = [];
    const partSlots = new Limiter(this.spec.multipart_max_concurrent_uploads);
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const uploadPart = async (partNumber: number, body: Buffer, release: () => void) => {
      try {
        const out = await this.call('UploadPart', objectKey, () =>
          this.client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: objectKey,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: body,
              ContentLength: body.length,
            }),
          ),
        );
        parts.push({ PartNumber: partNumber, ETag: out.ETag ?? '' });
        this.bytesUp += body.length;
      } catch (err) {
        failure ??= err;
      } finally {
        release();
      }
    };

    try {
      let partNumber = 0;
      for await (const part of fixedParts(source, this.partSize)) {
        // Wait for a part slot before reading on: memory stays at part size x slots.
        const release = await partSlots.acquire();
        if (failure !== undefined) {
          release();
          break;
        }
        partNumber++;
        const p = uploadPart(partNumber, part, release);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      if (parts.length === 0 && size > 0) throw unavailable(`S3 multipart upload of s3://${bucket}/${objectKey}: no parts`);
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.call('CompleteMultipartUpload', objectKey, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({ Bucket: bucket, Key: objectKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        ),
      );
    } catch (err) {
      // A source error can arrive while parts are still in flight: let them settle first.
      await Promise.allSettled(inFlight);
      await this.abort(objectKey, uploadId);
      throw err;
    }
  }

  /** Best effort: a failed abort leaves parts that a lifecycle rule (AbortIncompleteMultipartUpload) cleans up. */
  private async abort(objectKey: string, uploadId: string): Promise<void> {
    try {
      await this.call('AbortMultipartUpload', objectKey, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.spec.bucket, Key: objectKey, UploadId: uploadId })),
      );
    } catch (err) {
      this.abortFailures++;
      this.ctx.logger.warn(
        `could not abort multipart upload ${uploadId} of s3://${this.spec.bucket}/${objectKey} (its parts stay until a lifecycle rule removes them): ${errorMessage(err)}`,
      );
    }
  }

  // ---------------------------------------------------------------------------
  // getPart

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const objectKey = this.objectKey(key);
    const what = `s3://${this.spec.bucket}/${objectKey}`;
    try {
      if (offset === 0 && length === undefined) {
        // The common case (a whole blob): one GET, no HEAD.
        return this.streamBody(objectKey, await this.openRange(objectKey, 0, undefined));
      }
      // S3 answers 416 for a range at or past the end, which cannot tell "at the end"
      // (a valid empty read) from "past it" (OUT_OF_RANGE): ask for the size first.
      const size = await this.headSize(key);
      if (size === undefined) throw notFound('no such object');
      const { start, end } = checkRange(what, size, offset, length);
      if (start === end) return emptyStream();
      return this.streamBody(objectKey, await this.openRange(objectKey, start, end - start));
    } catch (err) {
      if (isNotFound(err)) throw notFound(`${what}: not in the S3 store (${errorMessage(err)})`);
      throw err;
    }
  }

  /**
   * One GET (with retries) of [start, start + length) (length undefined: to the end).
   * The limiter slot is held until the response headers arrive; a body being
   * read is bounded by the HTTP agent's socket cap instead, so a reader that
   * never drains its stream cannot starve the store.
   */
  private async openRange(
    objectKey: string,
    start: number,
    length: number | undefined,
  ): Promise<{ out: GetObjectCommandOutput; start: number; end: number }> {
    const range =
      start === 0 && length === undefined ? undefined : `bytes=${start}-${length === undefined ? '' : start + length - 1}`;
    const out = await this.call('GetObject', objectKey, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.spec.bucket, Key: objectKey, Range: range })),
    );
    if (this.isExpired(out.LastModified)) {
      (out.Body as Readable | undefined)?.destroy();
      throw notFound('expired (older than consider_expired_after_s)');
    }
    const total = totalSize(out);
    const end = length === undefined ? total : Math.min(total, start + length);
    return { out, start, end };
  }

  /** Streams [start, end), resuming with a new ranged GET from the last byte received when the body breaks. */
  private async *streamBody(
    objectKey: string,
    first: { out: GetObjectCommandOutput; start: number; end: number },
  ): ByteStream {
    const { end } = first;
    let pos = first.start;
    let body = first.out.Body as Readable | undefined;
    let resumes = 0;
    try {
      for (;;) {
        try {
          if (body !== undefined) {
            for await (const chunk of body as AsyncIterable<Buffer>) {
              const room = end - pos;
              const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
              pos += piece.length;
              this.bytesDown += piece.length;
              if (piece.length > 0) yield piece;
            }
          }
          if (pos >= end) return;
          throw unavailable(`S3 GetObject s3://${this.spec.bucket}/${objectKey}: body ended at byte ${pos} of ${end}`);
        } catch (err) {
          body?.destroy();
          body = undefined;
          const mapped = s3Error(err, this.errorContext('GetObject', objectKey));
          if (resumes >= this.spec.retry.max_retries || !this.isRetryable(mapped)) throw this.finalError(mapped);
          await this.backoff(resumes, mapped);
          resumes++;
          const next = await this.openRange(objectKey, pos, end - pos);
          body = next.out.Body as Readable | undefined;
        }
      }
    } finally {
      body?.destroy();
    }
  }

  // ---------------------------------------------------------------------------
  // entries (for verify; gc never deletes from a bucket)

  /**
   * Lists the objects under key_prefix named "<hash>-<size>" (ListObjectsV2,
   * one page of up to 1000 at a time, so a large bucket is never held whole).
   * Other objects under the prefix are skipped. lastAccessMs is the object's
   * LastModified: S3 does not record reads.
   */
  async *entries(): AsyncIterable<StoreEntry> {
    const prefix = this.spec.key_prefix;
    let token: string | undefined;
    do {
      const page = await this.call('ListObjectsV2', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.spec.bucket, Prefix: prefix, ContinuationToken: token }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(prefix.length);
        const key = name === undefined ? undefined : parseDigestKey(name);
        if (key === undefined || this.isExpired(object.LastModified)) continue;
        const size = object.Size ?? 0;
        const entry: StoreEntry = object.LastModified
          ? { key, size, storedSize: size, lastAccessMs: object.LastModified.getTime() }
          : { key, size, storedSize: size };
        yield entry;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  // ---------------------------------------------------------------------------
  // remove, stats

  async remove(key: Digest): Promise<boolean> {
    const objectKey = this.objectKey(key);
    const existed = (await this.headSize(key)) !== undefined;
    await this.call('DeleteObject', objectKey, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.spec.bucket, Key: objectKey })),
    );
    return existed;
  }

  stats(): CloudObjectStats {
    return {
      kind: this.kind,
      bucket: this.spec.bucket,
      keyPrefix: this.spec.key_prefix,
      requests: Object.fromEntries(this.requests),
      retries: this.retries,
      bytesUploaded: this.bytesUp,
      bytesDownloaded: this.bytesDown,
      abortFailures: this.abortFailures,
      inFlight: this.limiter.inFlight,
      queued: this.limiter.queued,
    };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // ---------------------------------------------------------------------------
  // One S3 call: a limiter slot per attempt, failures mapped, transient ones retried.

  private call<T>(op: S3Op, objectKey: string, send: () => Promise<T>): Promise<T> {
    return this.retrying(op, objectKey, () => this.limiter.run(() => this.attempt(op, objectKey, send)));
  }

  private retrying<T>(op: S3Op, objectKey: string, once: () => Promise<T>): Promise<T> {
    const hooks: RetryHooks = {
      isRetryable: this.isRetryable,
      onRetry: (info) => {
        this.retries++;
        this.ctx.logger.debug(`retrying S3 ${op} of ${objectKey} in ${Math.round(info.waitMs)} ms: ${errorMessage(info.error)}`);
      },
    };
    if (this.tuning.sleep !== undefined) hooks.sleep = this.tuning.sleep;
    if (this.tuning.random !== undefined) hooks.random = this.tuning.random;
    return retryWithBackoff(once, this.spec.retry, hooks).catch((err: unknown) => {
      throw this.finalError(err);
    });
  }

  private async attempt<T>(op: S3Op, objectKey: string, send: () => Promise<T>): Promise<T> {
    this.requests.set(op, (this.requests.get(op) ?? 0) + 1);
    try {
      return await send();
    } catch (err) {
      throw s3Error(err, this.errorContext(op, objectKey));
    }
  }

  private async backoff(retry: number, error: unknown): Promise<void> {
    // Same formula as retryWithBackoff; a resumed read counts as one retry.
    const waitMs = backoffMs(this.spec.retry, retry, this.tuning.random);
    this.retries++;
    this.ctx.logger.debug(`resuming S3 read in ${Math.round(waitMs)} ms: ${errorMessage(error)}`);
    await (this.tuning.sleep ?? realSleep)(waitMs);
  }

  /** After retries are used up, say so: "S3 is unreachable" is the useful part for an operator. */
  private finalError(err: unknown): unknown {
    if (err instanceof NcacheError && this.isRetryable(err) && this.spec.retry.max_retries > 0) {
      return new NcacheError(err.code, `${err.message}; gave up after ${this.spec.retry.max_retries} retries`, { cause: err });
    }
    return err;
  }

  private errorContext(op: S3Op, key: string) {
    const ctx: { op: S3Op; bucket: string; key: string; region?: string; endpoint?: string } = {
      op,
      bucket: this.spec.bucket,
      key,
    };
    if (this.spec.region) ctx.region = this.spec.region;
    if (this.spec.endpoint !== undefined) ctx.endpoint = this.spec.endpoint;
    return ctx;
  }
}

/** Total object size from Content-Range ("bytes a-b/total") or, unranged, Content-Length. */
function totalSize(out: GetObjectCommandOutput): number {
  const m = out.ContentRange?.match(/\/(\d+)$/);
  if (m) return Number(m[1]);
  return out.ContentLength ?? 0;
}

async function* emptyStream(): ByteStream {}

/** Re-cuts a stream into Buffers of exactly `size` bytes (the last may be shorter). */
async function* fixedParts(source: ByteStream, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of source) {
    let rest = chunk;
    while (pendingBytes + rest.length >= size) {
      const take = size - pendingBytes;
      pending.push(rest.subarray(0, take));
      yield Buffer.concat(pending, size);
      rest = rest.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}
