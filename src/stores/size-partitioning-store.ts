// Routes each key by its digest size: smaller than `size` to the lower store,
// the rest to the upper store (e.g. small blobs in memory, big ones on disk).
import type { Digest } from '../util/digest.js';
import { RoutingStore } from './routing-store.js';
import type { StoreDriver } from './store.js';
import type { SizePartitioningStats } from './store-stats.js';

const LOWER = 0;
const UPPER = 1;

export class SizePartitioningStore extends RoutingStore {
  readonly kind = 'size_partitioning';

  constructor(
    private readonly size: number,
    lower: StoreDriver,
    upper: StoreDriver,
  ) {
    super([lower, upper]);
  }

  protected routeOf(key: Digest): number {
    return key.sizeBytes < this.size ? LOWER : UPPER;
  }

  stats(): SizePartitioningStats {
    return { kind: this.kind, size: this.size };
  }
}
