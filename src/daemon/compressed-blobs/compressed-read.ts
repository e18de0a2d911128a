// ByteStream Read of `compressed-blobs/zstd/...`: the stored (uncompressed)
// bytes from read_offset on, compressed into one zstd frame as they stream.
// REAPI: read_offset counts uncompressed bytes; read_limit must be 0 (the
// caller checks both).
import type { StoreDriver } from '../../stores/store.js';
import { type Digest, isEmptyDigest } from '../../util/digest.js';
import { zstdCompressStream } from './zstd-codec.js';

async function* noBytes(): AsyncGenerator<Buffer> {}

/** The zstd stream for `digest` from uncompressed `offset`; the empty blob (always present) is an empty frame. */
export async function readZstd(store: StoreDriver, digest: Digest, offset: number): Promise<AsyncIterable<Buffer>> {
  const raw = isEmptyDigest(digest) ? noBytes() : await store.getPart(digest, offset);
  return zstdCompressStream(raw, digest.sizeBytes - offset);
}
