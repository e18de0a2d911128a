import { describe, expect, it } from 'vitest';
import type { EvictionPolicy } from '../../src/config/types.js';
import { ManualClock } from '../../src/util/clock.js';
import { EvictingMap, type EvictReason, NO_EVICTION } from '../../src/util/eviction.js';

const policy = (p: Partial<EvictionPolicy>): EvictionPolicy => ({ ...NO_EVICTION, ...p });

function makeMap(p: Partial<EvictionPolicy>, clock = new ManualClock()) {
  const evicted: [string, EvictReason][] = [];
  const map = new EvictingMap<string>({
    policy: policy(p),
    clock,
    onEvict: (entry, reason) => evicted.push([entry.key, reason]),
  });
  return { map, evicted, clock };
}

describe('EvictingMap', () => {
  it('keeps everything when no limit is set', () => {
    const { map, evicted } = makeMap({});
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, 'v', 1000);
    expect(map.count).toBe(1000);
    expect(map.bytes).toBe(1_000_000);
    expect(evicted).toEqual([]);
  });

  it('evicts least recently used first once max_bytes is exceeded', () => {
    const { map, evicted } = makeMap({ max_bytes: 30 });
    map.set('a', 'A', 10);
    map.set('b', 'B', 10);
    map.set('c', 'C', 10);
    expect(map.get('a')?.value).toBe('A'); // a is now the most recent
    map.set('d', 'D', 10);
    expect(evicted).toEqual([['b', 'bytes']]);
    expect([...map.entries()].map((e) => e.key)).toEqual(['c', 'a', 'd']);
    expect(map.bytes).toBe(30);
    expect(map.evictions).toBe(1);
  });

  it('evicts down to the low watermark max_bytes - evict_bytes', () => {
    const { map, evicted } = makeMap({ max_bytes: 100, evict_bytes: 40 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) map.set(k, k, 20);
    expect(evicted).toEqual([]);
    map.set('f', 'f', 20); // 120 > 100: evict until <= 60
    expect(evicted.map(([k]) => k)).toEqual(['a', 'b', 'c']);
    expect(map.bytes).toBe(60);
  });

  it('peek does not change recency', () => {
    const { map, evicted } = makeMap({ max_count: 2 });
    map.set('a', 'A', 1);
    map.set('b', 'B', 1);
    expect(map.peek('a')?.value).toBe('A');
    map.set('c', 'C', 1);
    expect(evicted).toEqual([['a', 'count']]);
  });

  it('enforces max_count', () => {
    const { map, evicted } = makeMap({ max_count: 3 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) map.set(k, k, 1);
    expect(map.count).toBe(3);
    expect(evicted).toEqual([
      ['a', 'count'],
      ['b', 'count'],
    ]);
  });

  it('evicts entries idle for longer than max_seconds, lazily and in a sweep', () => {
    const { map, evicted, clock } = makeMap({ max_seconds: 60 });
    map.set('a', 'A', 1);
    map.set('b', 'B', 1);
    clock.advance(30_000);
    map.get('b');
    clock.advance(31_000); // a idle 61 s, b idle 31 s
    expect(map.get('a')).toBeUndefined();
    expect(evicted).toEqual([['a', 'age']]);
    expect(map.get('b')?.value).toBe('B');
    clock.advance(61_000);
    map.set('c', 'C', 1); // insert sweeps expired entries
    expect(evicted).toEqual([
      ['a', 'age'],
      ['b', 'age'],
    ]);
    clock.advance(61_000);
    map.sweep();
    expect(map.count).toBe(0);
  });

  it('replacing a key updates the byte total without calling onEvict', () => {
    const { map, evicted } = makeMap({ max_bytes: 100 });
    map.set('a', 'A', 40);
    map.set('a', 'A2', 10);
    expect(map.bytes).toBe(10);
    expect(map.count).toBe(1);
    expect(evicted).toEqual([]);
    expect(map.delete('a')?.value).toBe('A2');
    expect(map.bytes).toBe(0);
  });

  it('evicts an entry that alone exceeds max_bytes', () => {
    const { map, evicted } = makeMap({ max_bytes: 10 });
    map.set('big', 'x', 11);
    expect(evicted).toEqual([['big', 'bytes']]);
    expect(map.count).toBe(0);
  });

  it('restores entries with their own access times', () => {
    const { map, evicted, clock } = makeMap({ max_seconds: 10 });
    map.set('old', 'o', 1, clock.now() - 20_000);
    expect(evicted).toEqual([['old', 'age']]);
    map.set('recent', 'r', 1, clock.now() - 5_000);
    expect(map.peek('recent')?.lastAccessMs).toBe(clock.now() - 5_000);
  });
});
