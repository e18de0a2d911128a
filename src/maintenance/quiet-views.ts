// Leaves as verify reads them: without counting the reads as use. A store's
// own reads move a value to the recent end of its LRU, so a verify reading
// everything would leave gc with no idea what is really in use. Writes and
// removals (repair) go through the store itself, which keeps its index and
// budget right.
import type { ByteStream, QuietReads, StoreDriver } from '../stores/store.js';
import type { Digest } from '../util/digest.js';

/** A leaf that reads quietly (memory, filesystem), read through its QuietReads. */
export class PeekingView implements StoreDriver {
  readonly kind: string;

  constructor(
    private readonly store: StoreDriver,
    private readonly reads: QuietReads,
  ) {
    this.kind = store.kind;
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return keys.map((key) => this.reads.peekSize(key));
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.store.update(key, source, size);
  }

  async remove(key: Digest): Promise<boolean> {
    return (await this.store.remove?.(key)) ?? false;
  }

  getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    return this.reads.peekPart(key, offset, length);
  }
}

/** The leaf read without touching recency where the store allows it, else the store itself. */
export function quietView(store: StoreDriver): StoreDriver {
  const reads = store.quietReads?.();
  return reads !== undefined ? new PeekingView(store, reads) : store;
}
