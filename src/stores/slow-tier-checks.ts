// Existence checks a fast_slow store sends to its slow tier, for the answers
// that make a client skip an upload (FindMissingBlobs, ByteStream's early
// completion, completeness checks, dedup's chunk checks). A false "present"
// there loses data for everyone sharing the slow tier, a false "missing" costs
// one redundant upload, so these trust only the slow tier itself:
// - concurrent checks of one key share one request;
// - a positive answer is reused for a few seconds, in memory only: a restart,
//   or another machine, asks again. Long-lived knowledge (the catalog's
//   slow_tier_presence) is never an answer here, because a lifecycle rule or a
//   teammate can empty the bucket behind it.
import type { Clock } from '../util/clock.js';
import { type Digest, digestKey } from '../util/digest.js';
import type { StoreDriver } from './store.js';
import type { FastSlowCounters } from './store-stats.js';

/** How long a positive answer from the slow tier is reused (covers one FindMissingBlobs → Write → completeness round). */
export const CONFIRMED_FOR_MS = 10_000;
/** Positive answers remembered at most (oldest dropped first); a bound, not an expected number. */
const MAX_CONFIRMED = 100_000;

export type SlowTierCheckCounts = Pick<FastSlowCounters, 'slowChecks' | 'slowChecksShared' | 'slowChecksReused'>;

export class SlowTierChecks {
  private readonly inflight = new Map<string, Promise<number | undefined>>();
  /** Positive answers by key, roughly in the order they were asked (oldest first; recentSize checks each one's age). */
  private readonly confirmed = new Map<string, { size: number; askedAtMs: number }>();
  readonly counts: SlowTierCheckCounts = { slowChecks: 0, slowChecksShared: 0, slowChecksReused: 0 };

  constructor(
    private readonly slow: StoreDriver,
    private readonly clock: Clock,
    /** Told about what the slow tier confirmed in each answer (the catalog records it for fills and ls). */
    private readonly onConfirmed: (entries: { key: Digest; valueSize: number }[]) => void,
    private readonly windowMs = CONFIRMED_FOR_MS,
  ) {}

  /** The value size of each key in the slow tier, or undefined. Rejects when the slow tier cannot answer. */
  async sizes(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    const now = this.clock.now();
    const answers: (Promise<number | undefined> | number)[] = [];
    const ask = new Map<string, { key: Digest; at: number[] }>();
    keys.forEach((key, i) => {
      const name = digestKey(key);
      const recent = this.recentSize(key, now);
      const pending = this.inflight.get(name);
      if (recent !== undefined) {
        this.counts.slowChecksReused += 1;
        answers[i] = recent;
      } else if (pending !== undefined) {
        this.counts.slowChecksShared += 1;
        answers[i] = pending;
      } else {
        const asking = ask.get(name);
        if (asking === undefined) ask.set(name, { key, at: [i] });
        else asking.at.push(i);
      }
    });
    if (ask.size > 0) this.send([...ask.values()], answers, now);
    return Promise.all(answers);
  }

  /** A size the slow tier confirmed within the window (fills use it to skip a HEAD). */
  recentSize(key: Digest, now = this.clock.now()): number | undefined {
    const entry = this.confirmed.get(digestKey(key));
    if (entry === undefined) return undefined;
    // A clock that went back counts as expired too.
    if (now - entry.askedAtMs >= this.windowMs || now < entry.askedAtMs) return undefined;
    return entry.size;
  }

  /** The slow tier holds `key` as of `askedAtMs` (an upload to it just landed). */
  confirm(key: Digest, size: number, askedAtMs = this.clock.now()): void {
    const name = digestKey(key);
    this.confirmed.delete(name); // re-inserted at the end: the map stays ordered by time
    this.confirmed.set(name, { size, askedAtMs });
    this.prune(askedAtMs);
  }

  /** The slow tier answered NOT_FOUND for `key` (or it was removed): no earlier answer stands. */
  forget(key: Digest): void {
    this.confirmed.delete(digestKey(key));
  }

  /** One batched request for the keys no one is asking about yet; each key's answer is shared while it is in flight. */
  private send(ask: { key: Digest; at: number[] }[], answers: (Promise<number | undefined> | number)[], askedAtMs: number): void {
    this.counts.slowChecks += ask.length;
    const batch = this.slow.has(ask.map((a) => a.key));
    batch.then(
      (sizes) => {
        const confirmed: { key: Digest; valueSize: number }[] = [];
        ask.forEach(({ key }, j) => {
          const size = sizes[j];
          if (size === undefined) return;
          this.confirm(key, size, askedAtMs);
          confirmed.push({ key, valueSize: size });
        });
        if (confirmed.length > 0) this.onConfirmed(confirmed);
      },
      () => {}, // each caller sees the rejection through its own answer
    );
    ask.forEach(({ key, at }, j) => {
      const name = digestKey(key);
      const answer = batch.then((sizes) => sizes[j]);
      const settled = () => {
        if (this.inflight.get(name) === answer) this.inflight.delete(name);
      };
      answer.then(settled, settled);
      this.inflight.set(name, answer);
      for (const i of at) answers[i] = answer;
    });
  }

  private prune(now: number): void {
    for (const [name, entry] of this.confirmed) {
      const expired = now - entry.askedAtMs >= this.windowMs;
      if (!expired && this.confirmed.size <= MAX_CONFIRMED) return;
      this.confirmed.delete(name);
    }
  }
}
