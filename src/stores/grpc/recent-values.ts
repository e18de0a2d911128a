// Action results the grpc store fetched moments ago. fast_slow asks a slow
// tier for a value's size (has) and then reads it (getPart): over an AC
// upstream that would be two GetActionResult calls for one miss. The value
// fetched by the first is kept for `ttlMs` and serves the second; serving it
// is the same as having read it that much earlier. Bounded in entries and
// bytes; an update through this store replaces its entry.
import type { Clock } from '../../util/clock.js';

interface Entry {
  readonly bytes: Buffer;
  readonly atMs: number;
}

export class RecentValues {
  private readonly entries = new Map<string, Entry>();
  private heldBytes = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get(key: string): Buffer | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.clock.now() - entry.atMs > this.ttlMs) {
      this.delete(key);
      return undefined;
    }
    return entry.bytes;
  }

  set(key: string, bytes: Buffer): void {
    this.delete(key);
    if (bytes.length > this.maxBytes) return;
    this.entries.set(key, { bytes, atMs: this.clock.now() });
    this.heldBytes += bytes.length;
    // Oldest first (insertion order): drop until within both bounds.
    for (const [oldest] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.heldBytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.heldBytes -= entry.bytes.length;
  }
}
