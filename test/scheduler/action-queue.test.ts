import { describe, expect, it } from 'vitest';
import { ActionQueue } from '../../src/scheduler/action-queue.js';

interface Item {
  readonly name: string;
  readonly priority: number;
  readonly sequence: number;
}

let counter = 0;
const item = (name: string, priority = 0): Item => ({ name, priority, sequence: ++counter });
const names = (q: ActionQueue<Item>) => [...q].map((i) => i.name);

describe('ActionQueue', () => {
  it('is FIFO at one priority', () => {
    const q = new ActionQueue<Item>();
    for (const n of ['a', 'b', 'c', 'd']) q.add(item(n));
    expect(names(q)).toEqual(['a', 'b', 'c', 'd']);
    expect(q.size).toBe(4);
  });

  it('runs lower priority values sooner (REAPI), stable within a priority', () => {
    const q = new ActionQueue<Item>();
    q.add(item('p5-first', 5));
    q.add(item('p0-first', 0));
    q.add(item('p5-second', 5));
    q.add(item('neg', -3));
    q.add(item('p0-second', 0));
    q.add(item('p1', 1));
    expect(names(q)).toEqual(['neg', 'p0-first', 'p0-second', 'p1', 'p5-first', 'p5-second']);
  });

  it('deletes exactly the given entry', () => {
    const q = new ActionQueue<Item>();
    const a = item('a');
    const b = item('b');
    const c = item('c');
    [a, b, c].forEach((i) => q.add(i));
    expect(q.delete(b)).toBe(true);
    expect(q.delete(b)).toBe(false);
    expect(q.has(b)).toBe(false);
    expect(q.has(a)).toBe(true);
    expect(names(q)).toEqual(['a', 'c']);
  });

  it('puts a re-added entry back in its original place, not at the end', () => {
    const q = new ActionQueue<Item>();
    const a = item('a');
    const b = item('b');
    const c = item('c');
    [a, b, c].forEach((i) => q.add(i));
    q.delete(a);
    q.add(item('d'));
    q.add(a);
    expect(names(q)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('can be walked while entries are taken out', () => {
    const q = new ActionQueue<Item>();
    const all = ['a', 'b', 'c'].map((n) => item(n));
    all.forEach((i) => q.add(i));
    const seen: string[] = [];
    for (const i of q) {
      seen.push(i.name);
      q.delete(i);
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(q.size).toBe(0);
  });
});
