// Digests as ncache uses them: lowercase hex SHA-256 plus the blob's size.
import { createHash } from 'node:crypto';
import { invalidArgument } from './errors.js';

export interface Digest {
  /** Lowercase hex, 64 characters for SHA-256. */
  readonly hash: string;
  /** Size of the blob in bytes (a safe integer, never negative). */
  readonly sizeBytes: number;
}

export const SHA256_HEX_LENGTH = 64;
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const EMPTY_DIGEST: Digest = Object.freeze({ hash: EMPTY_SHA256, sizeBytes: 0 });

/** Largest blob size we accept anywhere: far beyond any real build output, far below 2^53. */
export const MAX_BLOB_SIZE = 2 ** 45; // 32 TiB

const HEX_RE = /^[0-9a-f]+$/;

export function isEmptyDigest(d: Digest): boolean {
  return d.sizeBytes === 0 && d.hash === EMPTY_SHA256;
}

const isSha256Hex = (hash: unknown): hash is string =>
  typeof hash === 'string' && hash.length === SHA256_HEX_LENGTH && HEX_RE.test(hash);

const isBlobSize = (size: unknown): size is number =>
  typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 && size <= MAX_BLOB_SIZE;

/** Checks shape only (hex, length, size range). `what` names the field in the error. */
export function validateDigest(d: { hash?: unknown; sizeBytes?: unknown }, what = 'digest'): Digest {
  const hash = d.hash;
  const size = d.sizeBytes;
  if (!isSha256Hex(hash)) {
    throw invalidArgument(
      `${what}: hash must be ${SHA256_HEX_LENGTH} lowercase hex characters (SHA-256), got ${JSON.stringify(hash)}`,
    );
  }
  if (!isBlobSize(size)) {
    throw invalidArgument(`${what}: size_bytes must be an integer from 0 to ${MAX_BLOB_SIZE}, got ${String(size)}`);
  }
  return { hash, sizeBytes: size };
}

/** Whether validateDigest would accept `d` (for data read back from disk, where a bad value is skipped, not an error to the caller). */
export function isValidDigest(d: Digest): boolean {
  return isSha256Hex(d.hash) && isBlobSize(d.sizeBytes);
}

/** Parses a size written as decimal digits in a resource name or CLI argument. */
export function parseSizeText(text: string, what: string): number {
  if (!/^[0-9]{1,16}$/.test(text)) {
    throw invalidArgument(`${what}: size must be a non-negative decimal integer, got ${JSON.stringify(text)}`);
  }
  const n = Number(text);
  if (n > MAX_BLOB_SIZE) throw invalidArgument(`${what}: size ${text} is larger than the limit ${MAX_BLOB_SIZE}`);
  return n;
}

/** The canonical string form, also the object/file name: "<hash>-<size>". */
export function digestKey(d: Digest): string {
  return `${d.hash}-${d.sizeBytes}`;
}

export function parseDigestKey(key: string): Digest | undefined {
  const dash = key.lastIndexOf('-');
  if (dash !== SHA256_HEX_LENGTH) return undefined;
  const hash = key.slice(0, dash);
  const sizeText = key.slice(dash + 1);
  if (!isSha256Hex(hash) || !/^[0-9]{1,16}$/.test(sizeText)) return undefined;
  const sizeBytes = Number(sizeText);
  return isBlobSize(sizeBytes) ? { hash, sizeBytes } : undefined;
}

export function formatDigest(d: Digest): string {
  return `${d.hash}/${d.sizeBytes}`;
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function digestOf(data: Uint8Array): Digest {
  return { hash: sha256(data), sizeBytes: data.byteLength };
}
