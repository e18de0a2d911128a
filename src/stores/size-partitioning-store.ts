// Routes each key by its digest size: smaller than `size` to the lower store,
// the rest to the upper store (e.g. small blobs in memory, big ones on disk).
import type { Digest } from '../util/digest.js';
import type { ByteStream, StoreDriver, StoreEntry, StoreStats } from './store.js';

export class SizePartitioningStore implements StoreDriver {
  readonly kind = 'size_partitioning';

  constructor(
    private readonly size: number,
    private readonly lower: StoreDriver,
    private readonly upper: StoreDriver,
  ) {}

  private storeFor(key: Digest): StoreDriver {
    return key.sizeBytes < this.size ? this.lower : this.upper;
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const lowerIdx: number[] = [];
    const upperIdx: number[] = [];
    keys.forEach((key, i) => (this.storeFor(key) === this.lower ? lowerIdx : upperIdx).push(i));
    const result: (number | undefined)[] = new Array(keys.length).fill(undefined);
    const ask = async (store: StoreDriver, idx: number[]) => {
      if (idx.length === 0) return;
      const sizes = await store.has(idx.map((i) => keys[i]!));
      idx.forEach((keyIndex, j) => (result[keyIndex] = sizes[j]));
    };
    await Promise.all([ask(this.lower, lowerIdx), ask(this.upper, upperIdx)]);
    return result;
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.storeFor(key).update(key, source, size);
  }

  getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    return this.storeFor(key).getPart(key, offset, length);
  }

  async remove(key: Digest): Promise<boolean> {
    return (await this.storeFor(key).remove?.(key)) ?? false;
  }

  async *entries(): AsyncIterable<StoreEntry> {
    // Each key lives in the partition its size selects; anything else is stale.
    for (const [store, isLower] of [[this.lower, true], [this.upper, false]] as const) {
      if (!store.entries) continue;
      for await (const entry of store.entries()) {
        if (entry.key.sizeBytes < this.size === isLower) yield entry;
      }
    }
  }

  stats(): StoreStats {
    return { kind: this.kind, size: this.size };
  }

  children(): readonly StoreDriver[] {
    return [this.lower, this.upper];
  }
}
