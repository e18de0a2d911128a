// The queue of actions waiting for a worker. Order: ExecutionPolicy.priority
// ascending (REAPI: a lower value runs sooner; NativeLink orders the other
// way, see docs/architecture.md "Scheduler"), then arrival. An entry keeps
// its sequence number, so an action re-queued after a lost worker goes back
// to its original place rather than to the end.

export interface QueueEntry {
  readonly priority: number;
  /** Arrival order; unique per entry. */
  readonly sequence: number;
}

export class ActionQueue<T extends QueueEntry> implements Iterable<T> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    this.items.splice(this.indexFor(item), 0, item);
  }

  /** Removes the entry; false when it was not queued. */
  delete(item: T): boolean {
    const at = this.indexFor(item);
    if (this.items[at] !== item) return false;
    this.items.splice(at, 1);
    return true;
  }

  has(item: T): boolean {
    return this.items[this.indexFor(item)] === item;
  }

  [Symbol.iterator](): Iterator<T> {
    // A copy: callers take entries out while they walk the queue.
    return [...this.items][Symbol.iterator]();
  }

  /** First index whose entry does not sort before `item` (binary search). */
  private indexFor(item: T): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = this.items[mid];
      if (other !== undefined && before(other, item)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function before(a: QueueEntry, b: QueueEntry): boolean {
  return a.priority !== b.priority ? a.priority < b.priority : a.sequence < b.sequence;
}
