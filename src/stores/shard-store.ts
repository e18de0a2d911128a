// Spreads keys over several stores by weight. The choice depends only on the
// key's hash and the configured weights, so every process with the same config
// agrees on where a key lives.
import type { Digest } from '../util/digest.js';
import { invalidArgument } from '../util/errors.js';
import type { ByteStream, StoreDriver, StoreEntry, StoreStats } from './store.js';

export interface WeightedStore {
  store: StoreDriver;
  weight: number;
}

const SPACE = 2 ** 32;

export class ShardStore implements StoreDriver {
  readonly kind = 'shard';
  private readonly stores: StoreDriver[];
  /** Exclusive upper bound, in [0, 2^32), of each store's slice of the hash space. */
  private readonly bounds: number[];

  constructor(shards: readonly WeightedStore[]) {
    if (shards.length === 0) throw invalidArgument('shard store: needs at least one store');
    const total = shards.reduce((sum, s) => sum + s.weight, 0);
    if (!(total > 0) || shards.some((s) => !(s.weight >= 0))) {
      throw invalidArgument('shard store: weights must be non-negative and not all zero');
    }
    this.stores = shards.map((s) => s.store);
    let cumulative = 0;
    this.bounds = shards.map((s) => {
      cumulative += s.weight;
      return Math.floor((cumulative / total) * SPACE);
    });
    this.bounds[this.bounds.length - 1] = SPACE;
  }

  /** Index of the store owning a key: the first 32 bits of its hash pick a slice. */
  shardOf(key: Digest): number {
    const point = Number.parseInt(key.hash.slice(0, 8), 16) || 0;
    let lo = 0;
    let hi = this.bounds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (point < this.bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private storeFor(key: Digest): StoreDriver {
    return this.stores[this.shardOf(key)]!;
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const groups = new Map<number, number[]>();
    keys.forEach((key, i) => {
      const shard = this.shardOf(key);
      const group = groups.get(shard);
      if (group) group.push(i);
      else groups.set(shard, [i]);
    });
    const result: (number | undefined)[] = new Array(keys.length).fill(undefined);
    await Promise.all(
      [...groups].map(async ([shard, idx]) => {
        const sizes = await this.stores[shard]!.has(idx.map((i) => keys[i]!));
        idx.forEach((keyIndex, j) => (result[keyIndex] = sizes[j]));
      }),
    );
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
    for (const [shard, store] of this.stores.entries()) {
      if (!store.entries) continue;
      for await (const entry of store.entries()) {
        if (this.shardOf(entry.key) === shard) yield entry;
      }
    }
  }

  stats(): StoreStats {
    return { kind: this.kind, shards: this.stores.length };
  }

  children(): readonly StoreDriver[] {
    return this.stores;
  }
}
