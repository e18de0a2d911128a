// Checks uploads against their digest while they stream into the backend:
// verify_size compares the byte count with key.sizeBytes, verify_hash the
// SHA-256 of the bytes with key.hash. A mismatch makes the source fail before
// it ends, so the backend never commits the value.
import { createHash } from 'node:crypto';
import type { Digest } from '../util/digest.js';
import { formatDigest } from '../util/digest.js';
import { invalidArgument } from '../util/errors.js';
import type { BlobFile, ByteStream, StoreDriver, StoreEntry } from './store.js';
import type { VerifyStats } from './store-stats.js';

export interface VerifyOptions {
  verifySize: boolean;
  verifyHash: boolean;
}

export class VerifyStore implements StoreDriver {
  readonly kind = 'verify';
  private rejected = 0;

  constructor(
    private readonly backend: StoreDriver,
    private readonly options: VerifyOptions,
  ) {}

  has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return this.backend.has(keys);
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    if (this.options.verifySize && size !== key.sizeBytes) {
      this.rejected += 1;
      throw invalidArgument(`upload of ${formatDigest(key)}: declared ${size} bytes, but the digest says ${key.sizeBytes}`);
    }
    if (!this.options.verifySize && !this.options.verifyHash) return this.backend.update(key, source, size);
    await this.backend.update(key, this.checked(key, source), size);
  }

  private async *checked(key: Digest, source: ByteStream): ByteStream {
    const { verifySize, verifyHash } = this.options;
    const hash = verifyHash ? createHash('sha256') : undefined;
    let received = 0;
    for await (const chunk of source) {
      received += chunk.length;
      if (verifySize && received > key.sizeBytes) {
        this.rejected += 1;
        throw invalidArgument(`upload of ${formatDigest(key)}: received more than the ${key.sizeBytes} bytes of its digest`);
      }
      hash?.update(chunk);
      yield chunk;
    }
    // Both checks run before the stream reports its end, so the backend never commits a bad value.
    if (verifySize && received !== key.sizeBytes) {
      this.rejected += 1;
      throw invalidArgument(`upload of ${formatDigest(key)}: received ${received} bytes, the digest says ${key.sizeBytes}`);
    }
    if (hash) {
      const actual = hash.digest('hex');
      if (actual !== key.hash) {
        this.rejected += 1;
        throw invalidArgument(
          `upload of ${formatDigest(key)}: the ${received} bytes received hash to ${actual}, not to the digest's hash`,
        );
      }
    }
  }

  getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    return this.backend.getPart(key, offset, length);
  }

  async openBlobFile(key: Digest, offset: number, length?: number): Promise<BlobFile | undefined> {
    return this.backend.openBlobFile?.(key, offset, length);
  }

  async remove(key: Digest): Promise<boolean> {
    return (await this.backend.remove?.(key)) ?? false;
  }

  entries(): AsyncIterable<StoreEntry> {
    return this.backend.entries?.() ?? (async function* () {})();
  }

  checksUploadHash(): boolean {
    return this.options.verifyHash;
  }

  stats(): VerifyStats {
    return { kind: this.kind, verifySize: this.options.verifySize, verifyHash: this.options.verifyHash, rejected: this.rejected };
  }

  children(): readonly StoreDriver[] {
    return [this.backend];
  }
}
