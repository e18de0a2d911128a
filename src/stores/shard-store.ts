// Spreads keys over several stores by weight. The choice depends only on the
// key's hash and the configured weights, so every process with the same config
// agrees on where a key lives.
import type { Digest } from '../util/digest.js';
import { invalidArgument } from '../util/errors.js';
import { RoutingStore } from './routing-store.js';
import type { StoreDriver } from './store.js';
import type { ShardStats } from './store-stats.js';

export interface WeightedStore {
  store: StoreDriver;
  weight: number;
}

const SPACE = 2 ** 32;

export class ShardStore extends RoutingStore {
  readonly kind = 'shard';
  private readonly shardCount: number;
  /** Exclusive upper bound, in [0, 2^32), of each store's slice of the hash space. */
  private readonly bounds: number[];

  constructor(shards: readonly WeightedStore[]) {
    super(shards.map((s) => s.store));
    if (shards.length === 0) throw invalidArgument('shard store: needs at least one store');
    const total = shards.reduce((sum, s) => sum + s.weight, 0);
    if (!(total > 0) || shards.some((s) => !(s.weight >= 0))) {
      throw invalidArgument('shard store: weights must be non-negative and not all zero');
    }
    this.shardCount = shards.length;
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

  protected routeOf(key: Digest): number {
    return this.shardOf(key);
  }

  stats(): ShardStats {
    return { kind: this.kind, shards: this.shardCount };
  }
}
