// Remembers which keys the backend has, so repeated existence checks (Bazel
// asks FindMissingBlobs for every input of every action) skip a slow backend.
// Only presence is cached, never absence: a blob uploaded elsewhere shows up
// at once. A read that finds the value gone corrects the cache; gc and verify,
// which remove from the leaves below directly, call forgetKeys().
import type { EvictionPolicy } from '../config/types.js';
import { systemClock } from '../util/clock.js';
import { type Digest, digestKey } from '../util/digest.js';
import { isNotFound } from '../util/errors.js';
import { EvictingMap } from '../util/eviction.js';
import type { StoreContext } from './store-context.js';
import type { ByteStream, StoreDriver, StoreEntry } from './store.js';
import type { ExistenceCacheStats } from './store-stats.js';

export class ExistenceCacheStore implements StoreDriver {
  readonly kind = 'existence_cache';
  private readonly known: EvictingMap<number>;
  private hits = 0;
  private lookups = 0;

  constructor(
    private readonly backend: StoreDriver,
    policy: EvictionPolicy | undefined,
    ctx: Pick<StoreContext, 'clock'> = { clock: systemClock },
  ) {
    this.known = new EvictingMap<number>({ policy, clock: ctx.clock });
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const result: (number | undefined)[] = new Array(keys.length).fill(undefined);
    const unknown: number[] = [];
    keys.forEach((key, i) => {
      const entry = this.known.get(digestKey(key));
      if (entry) result[i] = entry.value;
      else unknown.push(i);
    });
    this.lookups += keys.length;
    this.hits += keys.length - unknown.length;
    if (unknown.length === 0) return result;
    const sizes = await this.backend.has(unknown.map((i) => keys[i]!));
    unknown.forEach((keyIndex, j) => {
      const size = sizes[j];
      result[keyIndex] = size;
      if (size !== undefined) this.known.set(digestKey(keys[keyIndex]!), size, size);
    });
    return result;
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    await this.backend.update(key, source, size);
    this.known.set(digestKey(key), size, size);
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    try {
      return await this.backend.getPart(key, offset, length);
    } catch (err) {
      if (isNotFound(err)) this.known.delete(digestKey(key));
      throw err;
    }
  }

  async remove(key: Digest): Promise<boolean> {
    this.known.delete(digestKey(key));
    return (await this.backend.remove?.(key)) ?? false;
  }

  forgetKeys(keys: readonly Digest[]): void {
    for (const key of keys) this.known.delete(digestKey(key));
  }

  entries(): AsyncIterable<StoreEntry> {
    return this.backend.entries?.() ?? (async function* () {})();
  }

  stats(): ExistenceCacheStats {
    return { kind: this.kind, count: this.known.count, evictions: this.known.evictions, lookups: this.lookups, hits: this.hits };
  }

  children(): readonly StoreDriver[] {
    return [this.backend];
  }
}
