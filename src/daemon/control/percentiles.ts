// Percentiles of recent samples (queue wait, execution time) for `stats`:
// nearest rank over the scheduler's bounded ring, so a p99 is a time some
// action really took, never an interpolation between two.

export interface Percentiles {
  /** How many samples they are taken over. */
  readonly count: number;
  /** Milliseconds; null when there are no samples yet. */
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export function percentiles(samples: readonly number[]): Percentiles {
  if (samples.length === 0) return { count: 0, p50: null, p90: null, p99: null, max: null };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
  return { count: sorted.length, p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted[sorted.length - 1]! };
}
