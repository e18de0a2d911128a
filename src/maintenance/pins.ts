// Keys in use by requests in flight (an upload being received, a blob being
// streamed out), so gc never removes what a request still needs. Counted, since
// several requests may use one key at once.
import { type Digest, digestKey } from '../util/digest.js';

export class PinRegistry {
  private readonly counts = new Map<string, { key: Digest; count: number }>();

  /** Pins `key` until the returned release is called (calling it twice is harmless). */
  pin(key: Digest): () => void {
    const name = digestKey(key);
    const entry = this.counts.get(name);
    if (entry === undefined) this.counts.set(name, { key, count: 1 });
    else entry.count += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const current = this.counts.get(name);
      if (current === undefined) return;
      current.count -= 1;
      if (current.count <= 0) this.counts.delete(name);
    };
  }

  /** Runs `fn` with `key` pinned. */
  async with<T>(key: Digest, fn: () => Promise<T>): Promise<T> {
    const release = this.pin(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  isPinned(key: Digest): boolean {
    return this.counts.has(digestKey(key));
  }

  /** The pinned keys right now. */
  keys(): Digest[] {
    return [...this.counts.values()].map((e) => e.key);
  }

  get size(): number {
    return this.counts.size;
  }
}
