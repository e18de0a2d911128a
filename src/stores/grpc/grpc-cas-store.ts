// The grpc store with store_type "cas": another REAPI server's CAS.
// - has: FindMissingBlobs (split into requests of at most 4096 digests); the
//   empty blob is always present and never asked about;
// - getPart: ByteStream Read of the range, resumed from the bytes delivered
//   when the stream breaks (resumable-read.ts); resolves once the first bytes
//   arrived, so a missing blob is NOT_FOUND from getPart itself (and
//   getWithSize, fast_slow's fill, needs no FindMissingBlobs before it);
// - update: small blobs (up to `batchMaxBytes`) buffered and sent with
//   BatchUpdateBlobs (retried whole), larger ones streamed with a resumable
//   ByteStream Write (resumable-write.ts); memory per upload is bounded by the
//   write window, never the blob.
import type { GrpcStoreSpec } from '../../config/types.js';
import { ByteStreamClient } from '../../upstream/bytestream-client.js';
import { CasClient } from '../../upstream/cas-client.js';
import type { UpstreamChannel } from '../../upstream/channel.js';
import { type Digest, digestKey, isEmptyDigest } from '../../util/digest.js';
import { notFound } from '../../util/errors.js';
import { type ByteStream, type StoreDriver, checkRange, exactSize } from '../store.js';
import { resumableRead } from './resumable-read.js';
import { DEFAULT_WRITE_TUNING, ResumableWrite, type WriteTuning } from './resumable-write.js';
import { UpstreamStoreBase } from './upstream-store-base.js';

export interface GrpcCasTuning extends Partial<WriteTuning> {
  /** Largest blob sent with BatchUpdateBlobs instead of a ByteStream Write. */
  readonly batchMaxBytes?: number;
}

/** Well below the 4 MiB most servers accept in one message. */
export const DEFAULT_BATCH_MAX_BYTES = 1024 * 1024;

export class GrpcCasStore extends UpstreamStoreBase implements StoreDriver {
  private readonly cas: CasClient;
  private readonly bs: ByteStreamClient;
  private readonly writeTuning: WriteTuning;
  private readonly batchMaxBytes: number;

  constructor(spec: GrpcStoreSpec, channel: UpstreamChannel, tuning: GrpcCasTuning = {}) {
    super(spec, channel);
    this.cas = new CasClient(channel, spec.instance_name);
    this.bs = new ByteStreamClient(channel, spec.instance_name);
    this.writeTuning = { ...DEFAULT_WRITE_TUNING, ...tuning };
    this.batchMaxBytes = tuning.batchMaxBytes ?? DEFAULT_BATCH_MAX_BYTES;
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const asked = keys.filter((k) => !isEmptyDigest(k));
    const missing = new Set((await this.cas.findMissingBlobs(dedupe(asked))).map(digestKey));
    return keys.map((k) => (missing.has(digestKey(k)) ? undefined : k.sizeBytes));
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const what = `${this.channel.description} blob ${digestKey(key)}`;
    const { start, end } = checkRange(what, key.sizeBytes, offset, length);
    if (isEmptyDigest(key)) return (async function* () {})();
    if (start === end) {
      // Nothing to read, but the answer must still say whether the blob exists.
      if ((await this.has([key]))[0] === undefined) throw notFound(`${what}: not found`);
      return (async function* () {})();
    }
    const bytes = resumableRead(this.bs, key, start, end, { onBytes: (n) => (this.bytesDown += n) });
    const first = await bytes.next();
    return continueWith(first, bytes);
  }

  /** A CAS value's size is its digest's: the read alone answers whether the blob exists. */
  async getWithSize(key: Digest): Promise<{ size: number; stream: ByteStream }> {
    return { size: key.sizeBytes, stream: await this.getPart(key, 0) };
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    const what = `upload of ${digestKey(key)} to ${this.channel.description}`;
    const checked = exactSize(source, size, what);
    if (isEmptyDigest(key)) {
      for await (const _ of checked);
      return;
    }
    if (size <= this.batchMaxBytes) {
      const parts: Buffer[] = [];
      for await (const chunk of checked) parts.push(chunk);
      const data = Buffer.concat(parts);
      await this.cas.batchUpdateBlobs([{ digest: key, data }]);
      this.bytesUp += data.length;
      return;
    }
    await new ResumableWrite(this.bs, key, this.writeTuning, (n) => (this.bytesUp += n)).run(checked);
  }
}

function dedupe(keys: readonly Digest[]): Digest[] {
  const seen = new Map<string, Digest>();
  for (const k of keys) seen.set(digestKey(k), k);
  return [...seen.values()];
}

/**
 * The stream whose first result was already taken (to learn the blob exists).
 * Its return() releases the upstream call even if iteration never started.
 */
function continueWith(first: IteratorResult<Buffer>, rest: AsyncGenerator<Buffer>): ByteStream {
  let pending: IteratorResult<Buffer> | undefined = first;
  const iterator: AsyncIterableIterator<Buffer> = {
    next: async () => {
      if (pending === undefined) return rest.next();
      const result = pending;
      pending = undefined;
      return result;
    },
    return: async () => {
      pending = undefined;
      await rest.return(undefined);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
