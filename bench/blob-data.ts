// Deterministic, incompressible benchmark content: AES-128-CTR keystream from
// a fixed key, with the blob's identity in the IV. Fast, and never the same
// bytes for two different seeds.
import { createCipheriv, createHash } from 'node:crypto';
import type { Digest } from '../src/proto/reapi.js';

const KEY = Buffer.from('ncache-benchmark');
/** Default bytes per ByteStream WriteRequest (Bazel itself sends 16 KiB). */
export const CHUNK = 64 * 1024;

function keystream(seed: string) {
  const iv = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', KEY, iv);
}

/** The whole blob in memory (for blobs the client may hold). */
export function blobBytes(seed: string, size: number): Buffer {
  return keystream(seed).update(Buffer.alloc(size));
}

/** The same bytes as blobBytes(seed, size), generated a chunk at a time (for blobs too big to hold). */
export function* blobChunks(seed: string, size: number, chunk = CHUNK): Generator<Buffer> {
  const cipher = keystream(seed);
  const zeros = Buffer.alloc(chunk);
  for (let offset = 0; offset < size; offset += chunk) {
    const n = Math.min(chunk, size - offset);
    yield cipher.update(n === chunk ? zeros : zeros.subarray(0, n));
  }
}

/** Splits a buffer into chunk-sized views (no copies). */
export function* slices(data: Buffer, chunk = CHUNK): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += chunk) yield data.subarray(offset, offset + chunk);
}

export function digestOfBuffer(data: Buffer): Digest {
  return { hash: createHash('sha256').update(data).digest('hex'), sizeBytes: data.length };
}

export function digestOfChunks(chunks: Iterable<Buffer>): Digest {
  const hash = createHash('sha256');
  let size = 0;
  for (const chunk of chunks) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hash: hash.digest('hex'), sizeBytes: size };
}
