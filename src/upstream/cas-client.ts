// ContentAddressableStorage and Capabilities on an upstream, for one instance:
// FindMissingBlobs split into requests of at most FIND_MISSING_BATCH digests,
// BatchReadBlobs and BatchUpdateBlobs with each blob's status turned into an
// error naming the upstream and the digest.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { DIGEST_FUNCTION_SHA256, type ServerCapabilities, type Status } from '../proto/reapi.js';
import { type Digest, digestKey } from '../util/digest.js';
import { mapConcurrent } from '../util/concurrency.js';
import type { UpstreamChannel } from './channel.js';
import { UpstreamError } from './errors.js';
import { BATCH_READ_BLOBS, BATCH_UPDATE_BLOBS, FIND_MISSING_BLOBS, GET_CAPABILITIES, type UpstreamMethod } from './methods.js';

/** Digests per FindMissingBlobs request: about 300 KB encoded, far below any server's message limit. */
export const FIND_MISSING_BATCH = 4096;
/** FindMissingBlobs requests of one call in flight at once. */
const FIND_MISSING_PARALLEL = 4;

/** One blob of a BatchReadBlobs answer: its bytes, or the upstream's error for it (NOT_FOUND when absent). */
export type BatchReadResult = { digest: Digest; data: Buffer } | { digest: Digest; error: UpstreamError };

export class CasClient {
  constructor(
    readonly channel: UpstreamChannel,
    readonly instanceName: string,
  ) {}

  getCapabilities(): Promise<ServerCapabilities> {
    return this.channel.unary(GET_CAPABILITIES, { instanceName: this.instanceName }, this.instanceName);
  }

  /** The digests the upstream lacks, in no particular order. */
  async findMissingBlobs(digests: readonly Digest[]): Promise<Digest[]> {
    const batches: Digest[][] = [];
    for (let i = 0; i < digests.length; i += FIND_MISSING_BATCH) batches.push(digests.slice(i, i + FIND_MISSING_BATCH));
    const answers = await mapConcurrent(batches, FIND_MISSING_PARALLEL, (blobDigests) =>
      this.channel.unary(
        FIND_MISSING_BLOBS,
        { instanceName: this.instanceName, blobDigests, digestFunction: DIGEST_FUNCTION_SHA256 },
        this.instanceName,
      ),
    );
    return answers.flatMap((a) => a.missingBlobDigests);
  }

  /** Reads small blobs in one request; the caller keeps the total below the upstream's max_batch_total_size_bytes. */
  async batchReadBlobs(digests: readonly Digest[]): Promise<BatchReadResult[]> {
    const answer = await this.channel.unary(
      BATCH_READ_BLOBS,
      { instanceName: this.instanceName, digests: [...digests], digestFunction: DIGEST_FUNCTION_SHA256 },
      this.instanceName,
    );
    return answer.responses.map((r) => {
      const digest = r.digest ?? { hash: '', sizeBytes: 0 };
      const error = this.blobError(BATCH_READ_BLOBS, digest, r.status);
      return error ? { digest, error } : { digest, data: r.data };
    });
  }

  /** Uploads small blobs in one request; throws the first blob the upstream refused, naming it. */
  async batchUpdateBlobs(blobs: readonly { digest: Digest; data: Buffer }[]): Promise<void> {
    const answer = await this.channel.unary(
      BATCH_UPDATE_BLOBS,
      { instanceName: this.instanceName, requests: blobs.map((b) => ({ digest: b.digest, data: b.data })), digestFunction: DIGEST_FUNCTION_SHA256 },
      this.instanceName,
    );
    for (const r of answer.responses) {
      const error = this.blobError(BATCH_UPDATE_BLOBS, r.digest ?? { hash: '', sizeBytes: 0 }, r.status);
      if (error) throw error;
    }
  }

  private blobError<Req, Res>(method: UpstreamMethod<Req, Res>, digest: Digest, status: Status | null): UpstreamError | undefined {
    if (status === null || status.code === GrpcStatus.OK) return undefined;
    const site = { address: this.channel.addresses.join(', '), instance: this.instanceName, rpc: method.label };
    return new UpstreamError(status.code, site, `blob ${digestKey(digest)}: ${status.message || 'no details'}`);
  }
}
