// A dedup blob's index entry: its ordered chunk list, as stored in the index
// store under the blob's own digest. It is the shared truth another machine
// rebuilds the blob from, so it is versioned and self-checking: a torn write,
// a flipped bit or a file from elsewhere is detected, never trusted.
//
// Layout (integers big-endian):
//   magic      4 bytes  "NCDX"
//   version    u8       1
//   reserved   3 bytes  zero
//   blob size  u64
//   blob hash  32 bytes SHA-256 of the whole blob
//   count      u32      number of chunks
//   count x (chunk hash 32 bytes, chunk size u64)
//   checksum   32 bytes SHA-256 of everything above
import { createHash } from 'node:crypto';
import { type Digest, formatDigest } from '../../util/digest.js';
import { NcacheError } from '../../util/errors.js';

const MAGIC = Buffer.from('NCDX', 'latin1');
export const INDEX_ENTRY_VERSION = 1;
const HEADER_BYTES = 4 + 1 + 3 + 8 + 32 + 4;
const CHUNK_BYTES = 32 + 8;
const CHECKSUM_BYTES = 32;

/** The largest entry decoded: ~1.6 M chunks (a 4 GB blob of 64 KiB chunks is 64 K). */
export const MAX_INDEX_ENTRY_BYTES = 64 << 20;

/** An index entry that cannot be trusted. The store treats the blob as missing. */
export class DamagedIndexEntryError extends NcacheError {
  constructor(blob: Digest, reason: string) {
    super('NOT_FOUND', `dedup index entry of blob ${formatDigest(blob)} is damaged (${reason})`);
    this.name = 'DamagedIndexEntryError';
  }
}

/** The exact size of the entry for a blob of `chunkCount` chunks. */
export function indexEntrySize(chunkCount: number): number {
  return HEADER_BYTES + chunkCount * CHUNK_BYTES + CHECKSUM_BYTES;
}

export function encodeIndexEntry(blob: Digest, chunks: readonly Digest[]): Buffer {
  const out = Buffer.alloc(indexEntrySize(chunks.length));
  MAGIC.copy(out, 0);
  out.writeUInt8(INDEX_ENTRY_VERSION, 4);
  out.writeBigUInt64BE(BigInt(blob.sizeBytes), 8);
  out.write(blob.hash, 16, 32, 'hex');
  out.writeUInt32BE(chunks.length, 48);
  let pos = HEADER_BYTES;
  for (const chunk of chunks) {
    out.write(chunk.hash, pos, 32, 'hex');
    out.writeBigUInt64BE(BigInt(chunk.sizeBytes), pos + 32);
    pos += CHUNK_BYTES;
  }
  createHash('sha256').update(out.subarray(0, pos)).digest().copy(out, pos);
  return out;
}

/**
 * Decodes and checks the entry stored under `blob`: magic, version, length,
 * checksum, that it describes this very blob, and that the chunk sizes add up
 * to the blob's size. Throws DamagedIndexEntryError naming the blob otherwise.
 */
export function decodeIndexEntry(blob: Digest, data: Buffer): Digest[] {
  const damaged = (reason: string) => new DamagedIndexEntryError(blob, reason);
  if (data.length < HEADER_BYTES + CHECKSUM_BYTES) throw damaged(`${data.length} bytes is too short`);
  if (!data.subarray(0, 4).equals(MAGIC)) throw damaged('bad magic; not a dedup index entry');
  const version = data.readUInt8(4);
  if (version !== INDEX_ENTRY_VERSION) {
    throw damaged(`format version ${version}, this ncache reads version ${INDEX_ENTRY_VERSION}`);
  }
  if (data.readUIntBE(5, 3) !== 0) throw damaged('reserved bytes are not zero');
  const count = data.readUInt32BE(48);
  if (data.length !== indexEntrySize(count)) {
    throw damaged(`${data.length} bytes, but ${count} chunks need ${indexEntrySize(count)}`);
  }
  const body = data.length - CHECKSUM_BYTES;
  const checksum = createHash('sha256').update(data.subarray(0, body)).digest();
  if (!checksum.equals(data.subarray(body))) throw damaged('checksum mismatch');

  const size = data.readBigUInt64BE(8);
  const hash = data.toString('hex', 16, 48);
  if (hash !== blob.hash || size !== BigInt(blob.sizeBytes)) {
    throw damaged(`it describes blob ${hash}/${size}, not this one`);
  }
  const chunks: Digest[] = new Array(count);
  let total = 0;
  for (let i = 0, pos = HEADER_BYTES; i < count; i++, pos += CHUNK_BYTES) {
    const chunkSize = Number(data.readBigUInt64BE(pos + 32));
    if (chunkSize < 1 || !Number.isSafeInteger(chunkSize)) throw damaged(`chunk ${i} has size ${chunkSize}`);
    total += chunkSize;
    chunks[i] = { hash: data.toString('hex', pos, pos + 32), sizeBytes: chunkSize };
  }
  if (total !== blob.sizeBytes) throw damaged(`its chunks add up to ${total} bytes, the blob has ${blob.sizeBytes}`);
  return chunks;
}
