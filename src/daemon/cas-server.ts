// build.bazel.remote.execution.v2.ContentAddressableStorage over the
// configured CAS store of each instance.
import type { ServerStreamCall } from './grpc-server/calls.js';
import {
  type BatchReadBlobsRequest,
  type BatchReadBlobsResponse,
  type BatchUpdateBlobsRequest,
  type BatchUpdateBlobsResponse,
  type ContentAddressableStorageHandlers,
  type Directory,
  DirectoryCodec,
  type FindMissingBlobsRequest,
  type FindMissingBlobsResponse,
  type GetTreeRequest,
  type GetTreeResponse,
  type MessageInit,
} from '../proto/reapi.js';
import { type StoreDriver, putBuffer, readBuffer } from '../stores/store.js';
import { type Digest, digestKey, formatDigest, isEmptyDigest, sha256, validateDigest } from '../util/digest.js';
import { errorMessage, invalidArgument, isNotFound, notFound } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { mapConcurrent } from '../util/concurrency.js';
import { acceptsZstd, batchEntryBytes, decodeBatchEntry, encodeBatchRead } from './compressed-blobs/batch-compression.js';
import { StreamWriter, checkDigest, checkDigestFunction, failStream, requireDigest, unaryHandler } from './call-utils.js';
import { OK_STATUS, rpcStatusOf } from './grpc-status.js';
import type { InstanceMap } from './instances.js';
import {
  BATCH_CONCURRENCY,
  DEFAULT_TREE_PAGE_SIZE,
  LISTENER_LIMIT_DEFAULTS,
  MAX_BATCH_TOTAL_SIZE_BYTES,
  MAX_METADATA_BLOB_BYTES,
  READ_IN_FLIGHT_BYTES,
  checkUploadSize,
} from './limits.js';

/** Rough bytes per GetTree response before starting a new page, to stay far below message limits. */
const TREE_PAGE_BYTES = 2 * 1024 * 1024;

export interface CasServerOptions {
  readonly stores: InstanceMap<StoreDriver>;
  readonly logger: Logger;
  readonly maxBatchTotalSizeBytes?: number;
  /** Largest blob one entry may declare (the listener's max_upload_size). */
  readonly maxUploadBytes?: number;
}

export class CasServer {
  private readonly stores: InstanceMap<StoreDriver>;
  private readonly logger: Logger;
  private readonly maxBatchBytes: number;
  private readonly maxUploadBytes: number;

  constructor(opts: CasServerOptions) {
    this.stores = opts.stores;
    this.logger = opts.logger;
    this.maxBatchBytes = opts.maxBatchTotalSizeBytes ?? MAX_BATCH_TOTAL_SIZE_BYTES;
    this.maxUploadBytes = opts.maxUploadBytes ?? LISTENER_LIMIT_DEFAULTS.max_upload_size;
  }

  handlers(): ContentAddressableStorageHandlers {
    return {
      findMissingBlobs: unaryHandler('CasServer.findMissingBlobs', this.logger, (req) => this.findMissingBlobs(req)),
      batchUpdateBlobs: unaryHandler('CasServer.batchUpdateBlobs', this.logger, (req) => this.batchUpdateBlobs(req)),
      batchReadBlobs: unaryHandler('CasServer.batchReadBlobs', this.logger, (req) => this.batchReadBlobs(req)),
      getTree: (call) => {
        this.getTree(call).catch((err: unknown) => failStream(call, err, 'CasServer.getTree', this.logger));
      },
    };
  }

  async findMissingBlobs(req: FindMissingBlobsRequest): Promise<MessageInit<FindMissingBlobsResponse>> {
    checkDigestFunction(req.digestFunction);
    const store = this.stores.get(req.instanceName);
    const toCheck: Digest[] = [];
    req.blobDigests.forEach((d, i) => {
      checkDigest(d, `blob_digests[${i}]`);
      // The empty blob is always present, stored or not.
      if (!isEmptyDigest(d)) toCheck.push(d);
    });
    const sizes = await store.has(toCheck);
    return { missingBlobDigests: toCheck.filter((_, i) => sizes[i] === undefined) };
  }

  async batchUpdateBlobs(req: BatchUpdateBlobsRequest): Promise<MessageInit<BatchUpdateBlobsResponse>> {
    checkDigestFunction(req.digestFunction);
    const store = this.stores.get(req.instanceName);
    let total = 0;
    for (const r of req.requests) total += batchEntryBytes(r.data, r.compressor, r.digest?.sizeBytes);
    if (total > this.maxBatchBytes) {
      throw invalidArgument(
        `the batch carries ${total} bytes in ${req.requests.length} blobs, over the limit of ${this.maxBatchBytes} ` +
          '(max_batch_total_size_bytes); split it or use ByteStream.Write',
      );
    }
    // The same blob twice in one batch is stored once.
    const writes = new Map<string, Promise<void>>();
    const responses = await mapConcurrent(req.requests, BATCH_CONCURRENCY, async (r, i) => {
      const field = `requests[${i}]`;
      try {
        const digest = requireDigest(r.digest, `${field}.digest`);
        checkUploadSize(digest, this.maxUploadBytes, `${field}: blob ${formatDigest(digest)}`);
        const data = decodeBatchEntry(r.data, r.compressor, digest, field);
        if (data.length !== digest.sizeBytes) {
          throw invalidArgument(
            `${field}: data is ${data.length} bytes but the digest says ${digest.sizeBytes}; nothing was stored`,
          );
        }
        const actual = sha256(data);
        if (actual !== digest.hash) {
          throw invalidArgument(`${field}: data hashes to ${actual}, not to the digest's ${digest.hash}; nothing was stored`);
        }
        if (!isEmptyDigest(digest)) {
          const key = digestKey(digest);
          let write = writes.get(key);
          if (write === undefined) {
            write = putBuffer(store, digest, data);
            writes.set(key, write);
          }
          await write;
        }
        return { digest, status: OK_STATUS };
      } catch (err) {
        return { digest: r.digest, status: rpcStatusOf(err) };
      }
    });
    return { responses };
  }

  async batchReadBlobs(req: BatchReadBlobsRequest): Promise<MessageInit<BatchReadBlobsResponse>> {
    checkDigestFunction(req.digestFunction);
    const store = this.stores.get(req.instanceName);
    let total = 0;
    for (const d of req.digests) total += Math.max(0, Number(d.sizeBytes) || 0);
    if (total > this.maxBatchBytes) {
      throw invalidArgument(
        `the batch asks for ${total} bytes in ${req.digests.length} blobs, over the limit of ${this.maxBatchBytes} ` +
          '(max_batch_total_size_bytes); split it or use ByteStream.Read',
      );
    }
    const zstd = acceptsZstd(req.acceptableCompressors);
    const responses = await mapConcurrent(req.digests, BATCH_CONCURRENCY, async (d, i) => {
      try {
        const digest = validateDigest(d, `digests[${i}]`);
        if (isEmptyDigest(digest)) return { digest, data: Buffer.alloc(0), status: OK_STATUS };
        const data = await readBuffer(store, digest, digest.sizeBytes);
        if (data.length !== digest.sizeBytes) {
          throw new Error(`store returned ${data.length} bytes for ${formatDigest(digest)}`);
        }
        return { digest, ...encodeBatchRead(data, zstd), status: OK_STATUS };
      } catch (err) {
        const status = isNotFound(err) ? rpcStatusOf(notFound(`blob ${formatDigest(d)} not found`)) : rpcStatusOf(err);
        if (status.code !== 5 && status.code !== 3) this.logger.warn(`CasServer.batchReadBlobs: ${errorMessage(err)}`);
        return { digest: d, status };
      }
    });
    return { responses };
  }

  async getTree(call: ServerStreamCall<GetTreeRequest, MessageInit<GetTreeResponse>>): Promise<void> {
    const req = call.request;
    checkDigestFunction(req.digestFunction);
    const store = this.stores.get(req.instanceName);
    const root = requireDigest(req.rootDigest, 'root_digest');
    if (req.pageSize < 0) throw invalidArgument(`page_size must not be negative, got ${req.pageSize}`);
    let offset = 0;
    if (req.pageToken !== '') {
      if (!/^[0-9]{1,9}$/.test(req.pageToken)) {
        throw invalidArgument(`page_token ${JSON.stringify(req.pageToken)} was not issued by this server`);
      }
      offset = Number(req.pageToken);
    }
    const pageSize = req.pageSize > 0 ? req.pageSize : DEFAULT_TREE_PAGE_SIZE;
    const writer = new StreamWriter(call, READ_IN_FLIGHT_BYTES);

    // Pages are positions in one deterministic breadth-first order, so a
    // token stays valid for the same root however it was interrupted.
    const walk = walkTree(store, root)[Symbol.asyncIterator]();
    let position = 0;
    let next = await walk.next();
    while (!next.done && position < offset) {
      position++;
      next = await walk.next();
    }
    let page: Directory[] = [];
    let pageBytes = 0;
    let sentAny = false;
    while (!next.done) {
      if (writer.cancelled) {
        await walk.return?.(undefined);
        return;
      }
      page.push(next.value.directory);
      pageBytes += next.value.size;
      position++;
      next = await walk.next();
      if (!next.done && (page.length >= pageSize || pageBytes >= TREE_PAGE_BYTES)) {
        await writer.write({ directories: page, nextPageToken: String(position) }, pageBytes);
        sentAny = true;
        page = [];
        pageBytes = 0;
      }
    }
    if (page.length > 0 || !sentAny) await writer.write({ directories: page, nextPageToken: '' }, pageBytes);
    writer.end();
  }
}

/**
 * The directories under `root`, breadth first, each distinct digest once.
 * A missing root is NOT_FOUND; missing directories below it are skipped (the
 * API returns the part of the tree that is present).
 */
async function* walkTree(store: StoreDriver, root: Digest): AsyncGenerator<{ directory: Directory; size: number }> {
  const seen = new Set<string>([digestKey(root)]);
  let level: Digest[] = [root];
  let isRoot = true;
  while (level.length > 0) {
    const loaded = await mapConcurrent(level, 32, (d) => loadDirectory(store, d, isRoot));
    const nextLevel: Digest[] = [];
    for (let i = 0; i < level.length; i++) {
      const directory = loaded[i];
      if (directory === undefined) continue;
      yield { directory, size: level[i]!.sizeBytes };
      directory.directories.forEach((child, j) => {
        const d = child.digest;
        if (d === null) return;
        try {
          validateDigest(d, `directory ${formatDigest(level[i]!)} directories[${j}].digest`);
        } catch {
          return; // a malformed child is treated like a missing one
        }
        const key = digestKey(d);
        if (seen.has(key)) return;
        seen.add(key);
        nextLevel.push(d);
      });
    }
    level = nextLevel;
    isRoot = false;
  }
}

async function loadDirectory(store: StoreDriver, digest: Digest, required: boolean): Promise<Directory | undefined> {
  if (isEmptyDigest(digest)) return DirectoryCodec.decode(Buffer.alloc(0));
  let bytes: Buffer;
  try {
    bytes = await readBuffer(store, digest, MAX_METADATA_BLOB_BYTES);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    if (required) throw notFound(`root directory ${formatDigest(digest)} not found in the CAS`);
    return undefined;
  }
  try {
    return DirectoryCodec.decode(bytes);
  } catch (err) {
    throw invalidArgument(`blob ${formatDigest(digest)} is not a Directory message: ${errorMessage(err)}`);
  }
}
