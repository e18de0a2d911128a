// The shared half of stores that put each key in exactly one child
// (size_partitioning, shard): subclasses only say which child owns a key.
import type { Digest } from '../util/digest.js';
import type { ByteStream, StoreDriver, StoreEntry } from './store.js';
import type { StoreStats } from './store-stats.js';

export abstract class RoutingStore implements StoreDriver {
  abstract readonly kind: string;

  constructor(private readonly routes: readonly StoreDriver[]) {}

  /** Index in `routes` of the child that owns `key`. Must depend only on the key. */
  protected abstract routeOf(key: Digest): number;

  abstract stats(): StoreStats;

  /** Asks each child once, for just the keys it owns. */
  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const groups = new Map<number, number[]>();
    keys.forEach((key, i) => {
      const route = this.routeOf(key);
      const group = groups.get(route);
      if (group) group.push(i);
      else groups.set(route, [i]);
    });
    const result: (number | undefined)[] = new Array(keys.length).fill(undefined);
    await Promise.all(
      [...groups].map(async ([route, indexes]) => {
        const sizes = await this.routes[route]!.has(indexes.map((i) => keys[i]!));
        indexes.forEach((keyIndex, j) => (result[keyIndex] = sizes[j]));
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

  /** Entries of every child, skipping any a child holds for a key it does not own (stale after a config change). */
  async *entries(): AsyncIterable<StoreEntry> {
    for (const [route, store] of this.routes.entries()) {
      if (!store.entries) continue;
      for await (const entry of store.entries()) {
        if (this.routeOf(entry.key) === route) yield entry;
      }
    }
  }

  children(): readonly StoreDriver[] {
    return this.routes;
  }

  private storeFor(key: Digest): StoreDriver {
    return this.routes[this.routeOf(key)]!;
  }
}
