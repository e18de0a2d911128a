// The compressor fields of BatchUpdateBlobs and BatchReadBlobs. Batch blobs
// are small (the batch limit bounds them), so they are decoded and encoded
// whole; decoding is still bounded by the declared size.
import { COMPRESSOR_IDENTITY, COMPRESSOR_NAMES, COMPRESSOR_ZSTD } from '../../proto/reapi.js';
import { type Digest, formatDigest } from '../../util/digest.js';
import { invalidArgument } from '../../util/errors.js';
import { zstdCompressBuffer, zstdDecompressBuffer } from './zstd-codec.js';

/** Below this many bytes a zstd frame's own header outweighs what it could save. */
const MIN_COMPRESS_BYTES = 64;

function compressorName(value: number): string {
  return COMPRESSOR_NAMES[value] ?? `unknown (${value})`;
}

/**
 * The bytes a batch entry counts against max_batch_total_size_bytes: for a
 * compressed entry the larger of what it carries and what it declares it
 * decodes to, so the decoded batch stays within the limit too.
 */
export function batchEntryBytes(data: Buffer, compressor: number, declaredSize: unknown): number {
  if (compressor === COMPRESSOR_IDENTITY) return data.length;
  return Math.max(data.length, Number(declaredSize) || 0);
}

/** A BatchUpdateBlobs entry's uncompressed bytes; `field` names it in errors ("requests[3]"). */
export function decodeBatchEntry(data: Buffer, compressor: number, digest: Digest, field: string): Buffer {
  if (compressor === COMPRESSOR_IDENTITY) return data;
  if (compressor === COMPRESSOR_ZSTD) {
    return zstdDecompressBuffer(data, digest.sizeBytes, `${field}: the zstd data of ${formatDigest(digest)}`);
  }
  throw invalidArgument(
    `${field}.compressor: compressor ${compressorName(compressor)} is not supported for ${formatDigest(digest)} (supported: IDENTITY, ZSTD)`,
  );
}

/** True when the client listed ZSTD among BatchReadBlobs' acceptable_compressors. */
export function acceptsZstd(acceptable: readonly number[]): boolean {
  return acceptable.includes(COMPRESSOR_ZSTD);
}

/** A BatchReadBlobs answer's data and compressor: zstd when the client takes it and it is smaller. */
export function encodeBatchRead(data: Buffer, zstdAccepted: boolean): { data: Buffer; compressor: number } {
  if (zstdAccepted && data.length >= MIN_COMPRESS_BYTES) {
    const compressed = zstdCompressBuffer(data);
    if (compressed.length < data.length) return { data: compressed, compressor: COMPRESSOR_ZSTD };
  }
  return { data, compressor: COMPRESSOR_IDENTITY };
}
