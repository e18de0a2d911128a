// An LRU map with NativeLink's eviction policy: a byte budget with a low
// watermark, a count limit and a maximum idle age; 0 disables an axis.
// Recency order is the Map's insertion order (a touch re-inserts the key), so
// touch, insert and evicting the oldest are all O(1).
import type { EvictionPolicy } from '../config/types.js';
import type { Clock } from './clock.js';

export interface EvictionEntry<V> {
  readonly key: string;
  readonly value: V;
  /** Bytes charged against max_bytes. */
  readonly size: number;
  /** Last access, ms since the epoch (from the injected clock). */
  readonly lastAccessMs: number;
}

/** The stored form: the same object is kept and its access time updated on a touch. */
interface MutableEntry<V> {
  readonly key: string;
  readonly value: V;
  readonly size: number;
  lastAccessMs: number;
}

export type EvictReason = 'bytes' | 'count' | 'age';

export interface EvictingMapOptions<V> {
  policy?: EvictionPolicy | undefined;
  clock: Clock;
  /** Called after an entry left the map because of the policy (not for delete() or replacement). */
  onEvict?: (entry: EvictionEntry<V>, reason: EvictReason) => void;
}

export const NO_EVICTION: EvictionPolicy = Object.freeze({ max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: 0 });

/** An LRU the policy is applied to (EvictingMap here, the filesystem store's BlobIndex): its oldest entry, totals, and how to evict. */
export interface PolicyTarget<E> {
  /** The least recently used entry; undefined when empty. */
  oldest(): E | undefined;
  lastAccessMs(entry: E): number;
  bytes(): number;
  count(): number;
  evict(entry: E, reason: EvictReason): void;
}

/** Whether an entry last used at `lastAccessMs` is past the policy's max_seconds at `now`. */
export function isPastMaxAge(policy: EvictionPolicy, lastAccessMs: number, now: number): boolean {
  return policy.max_seconds > 0 && now - lastAccessMs > policy.max_seconds * 1000;
}

/**
 * Evicts what the policy requires, oldest first: entries past max_seconds
 * (a prefix of the LRU order), then bytes down to the low watermark
 * (max_bytes - evict_bytes, so the next few inserts do not each trigger an
 * eviction), then entries over max_count.
 */
export function applyEvictionPolicy<E>(policy: EvictionPolicy, now: number, lru: PolicyTarget<E>): void {
  const { max_bytes: maxBytes, evict_bytes: evictBytes, max_count: maxCount } = policy;
  const evictWhile = (more: (entry: E) => boolean, reason: EvictReason) => {
    for (let entry = lru.oldest(); entry !== undefined && more(entry); entry = lru.oldest()) lru.evict(entry, reason);
  };
  if (policy.max_seconds > 0) evictWhile((entry) => isPastMaxAge(policy, lru.lastAccessMs(entry), now), 'age');
  if (maxBytes > 0 && lru.bytes() > maxBytes) {
    const target = Math.max(0, maxBytes - evictBytes);
    evictWhile(() => lru.bytes() > target, 'bytes');
  }
  if (maxCount > 0) evictWhile(() => lru.count() > maxCount, 'count');
}

export class EvictingMap<V> {
  private readonly map = new Map<string, MutableEntry<V>>();
  private readonly policy: EvictionPolicy;
  private readonly clock: Clock;
  private readonly onEvict: ((entry: EvictionEntry<V>, reason: EvictReason) => void) | undefined;
  private totalBytes = 0;
  private evictedCount = 0;
  private readonly lru: PolicyTarget<MutableEntry<V>> = {
    oldest: () => this.map.values().next().value,
    lastAccessMs: (entry) => entry.lastAccessMs,
    bytes: () => this.totalBytes,
    count: () => this.map.size,
    evict: (entry, reason) => this.evict(entry, reason),
  };

  constructor(options: EvictingMapOptions<V>) {
    this.policy = options.policy ?? NO_EVICTION;
    this.clock = options.clock;
    this.onEvict = options.onEvict;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get count(): number {
    return this.map.size;
  }

  /** How many entries the policy has evicted so far. */
  get evictions(): number {
    return this.evictedCount;
  }

  get maxBytes(): number {
    return this.policy.max_bytes;
  }

  /** Looks up a key and marks it most recently used. Expired entries are evicted, not returned. */
  get(key: string): EvictionEntry<V> | undefined {
    const entry = this.lookup(key);
    if (entry === undefined) return undefined;
    entry.lastAccessMs = this.clock.now();
    this.map.delete(key);
    this.map.set(key, entry);
    return entry;
  }

  /** Looks up a key without changing its recency. Expired entries are evicted, not returned. */
  peek(key: string): EvictionEntry<V> | undefined {
    return this.lookup(key);
  }

  /**
   * Inserts or replaces `key` as the most recently used entry, then evicts
   * whatever the policy requires (possibly this very entry, if it alone is
   * over the byte budget). `lastAccessMs` lets a store rebuild its order after
   * a restart: callers restoring entries must insert them oldest first.
   */
  set(key: string, value: V, size: number, lastAccessMs = this.clock.now()): void {
    const previous = this.map.get(key);
    if (previous !== undefined) {
      this.map.delete(key);
      this.totalBytes -= previous.size;
    }
    this.map.set(key, { key, value, size, lastAccessMs });
    this.totalBytes += size;
    this.evictAsNeeded();
  }

  /** Removes a key without calling onEvict. Returns the removed entry. */
  delete(key: string): EvictionEntry<V> | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    this.map.delete(key);
    this.totalBytes -= entry.size;
    return entry;
  }

  /** Applies the policy now (expired entries and limits); stores call this periodically. */
  sweep(): void {
    this.evictAsNeeded();
  }

  /** Entries from least to most recently used. Does not touch them. */
  *entries(): Generator<EvictionEntry<V>> {
    for (const entry of this.map.values()) yield entry;
  }

  /** Removes every entry without calling onEvict. */
  clear(): void {
    this.map.clear();
    this.totalBytes = 0;
  }

  private lookup(key: string): MutableEntry<V> | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    if (isPastMaxAge(this.policy, entry.lastAccessMs, this.clock.now())) {
      this.evict(entry, 'age');
      return undefined;
    }
    return entry;
  }

  private evictAsNeeded(): void {
    applyEvictionPolicy(this.policy, this.clock.now(), this.lru);
  }

  private evict(entry: MutableEntry<V>, reason: EvictReason): void {
    this.map.delete(entry.key);
    this.totalBytes -= entry.size;
    this.evictedCount += 1;
    this.onEvict?.(entry, reason);
  }
}
