// A store that accepts and drops every write and holds nothing.
import type { Digest } from '../util/digest.js';
import { formatDigest } from '../util/digest.js';
import { notFound } from '../util/errors.js';
import { type ByteStream, type StoreDriver, exactSize } from './store.js';
import type { NoopStats } from './store-stats.js';

export class NoopStore implements StoreDriver {
  readonly kind = 'noop';

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return keys.map(() => undefined);
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    // Drain the source so a writer on the other end finishes normally, and still
    // report a short or long stream as the caller's error.
    for await (const _chunk of exactSize(source, size, `noop store update of ${formatDigest(key)}`)) {
      // dropped
    }
  }

  async getPart(key: Digest): Promise<ByteStream> {
    throw notFound(`noop store: ${formatDigest(key)} not found (this store never keeps anything)`);
  }

  async remove(): Promise<boolean> {
    return false;
  }

  stats(): NoopStats {
    return { kind: this.kind, bytes: 0, count: 0 };
  }
}
