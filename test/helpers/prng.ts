// A small seeded PRNG for fuzz tests. Every case gets its own generator from
// (run seed, case index), so a failure reported as "seed S case I" replays
// alone, without running the cases before it.

/** mulberry32: 32 bits of state, good enough spread for picking test inputs. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The generator for one case of a run: the same (seed, index) always gives the same inputs. */
  static forCase(seed: number, index: number): Prng {
    // Mix the index in through one round of the generator, so neighbouring cases are unrelated.
    const mixer = new Prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    return new Prng(mixer.uint32());
  }

  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.uint32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.uint32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('Prng.pick: no items to pick from');
    return item;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.uint32() & 0xff;
    return out;
  }

  /** A length that is usually small and sometimes large: most bugs need a short input, some a long one. */
  length(max: number): number {
    return this.chance(0.8) ? this.int(Math.min(max, 64) + 1) : this.int(max + 1);
  }
}

/** The run seed: FUZZ_SEED from the environment (to replay a reported failure) or the test's default. */
export function fuzzSeed(fallback: number): number {
  const text = process.env['FUZZ_SEED'];
  if (text === undefined || text === '') return fallback;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(text)}`);
  return seed;
}
