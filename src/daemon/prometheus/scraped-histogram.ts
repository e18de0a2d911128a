// A prom-client Histogram whose series are read at scrape time from the
// daemon's own cumulative histograms (metrics.ts LatencyHistogram) instead of
// being observed per request: the request path keeps its one array bump, and
// a scrape does the summing. prom-client has no public setter for histogram
// buckets; its Registry formats every metric from `getForPromString()` when
// the metric has one (its own Histogram does), so this class provides that
// hook with values in the same shape. test/daemon/prometheus-registry.test.ts
// parses the output, so a prom-client that stopped calling it would fail there.
import { Histogram, type Registry } from 'prom-client';
import type { LatencyHistogram } from '../metrics.js';

/**
 * Upper bounds exposed, in seconds: each power of two of microseconds from
 * 64 µs to about 268 s. Every one is an exact bucket edge of LatencyHistogram
 * (4 buckets per doubling), so the cumulative counts are exact, not
 * interpolated.
 */
const FIRST_EXPONENT = 6;
const LAST_EXPONENT = 28;
const BUCKETS_PER_DOUBLING = 4;
export const DURATION_BUCKETS_SECONDS: readonly number[] = Array.from(
  { length: LAST_EXPONENT - FIRST_EXPONENT + 1 },
  (_, i) => 2 ** (FIRST_EXPONENT + i) / 1e6,
);

/** One series: its label values and the histogram (milliseconds) it reads. */
export interface HistogramSeries<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  readonly histogram: LatencyHistogram;
}

/** One line of the exposition as prom-client's Registry formats it. */
interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
}

export interface ScrapedHistogramConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registry: Registry;
  /** The series as of now; called once per scrape. */
  readonly read: () => Iterable<HistogramSeries<L>>;
}

export class ScrapedHistogram<L extends string> extends Histogram<L> {
  private readonly metricName: string;
  private readonly metricHelp: string;
  private readonly read: () => Iterable<HistogramSeries<L>>;

  constructor(config: ScrapedHistogramConfig<L>) {
    super({ name: config.name, help: config.help, labelNames: config.labelNames, buckets: [...DURATION_BUCKETS_SECONDS], registers: [config.registry] });
    this.metricName = config.name;
    this.metricHelp = config.help;
    this.read = config.read;
  }

  /** What the Registry formats (and what prom-client's get() splays for JSON). */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    for (const series of this.read()) values.push(...seriesValues(this.metricName, series));
    return { name: this.metricName, help: this.metricHelp, type: 'histogram', aggregator: 'sum', values };
  }
}

/** The _bucket lines (cumulative), _sum (seconds) and _count of one series. */
function seriesValues<L extends string>(name: string, series: HistogramSeries<L>): ExportedValue[] {
  const { histogram } = series;
  const sharedLabels: Record<string, string> = { ...series.labels };
  const out: ExportedValue[] = [];
  let cumulative = 0;
  let bucket = 0;
  for (const [i, bound] of DURATION_BUCKETS_SECONDS.entries()) {
    // LatencyHistogram bucket j holds values up to 2^(j/4) µs; this bound is bucket 4 * exponent.
    const last = (FIRST_EXPONENT + i) * BUCKETS_PER_DOUBLING;
    for (; bucket <= last; bucket++) cumulative += histogram.counts[bucket] ?? 0;
    out.push({ labels: { le: bound }, sharedLabels, value: cumulative, metricName: `${name}_bucket` });
  }
  out.push(
    { labels: { le: '+Inf' }, sharedLabels, value: histogram.count, metricName: `${name}_bucket` },
    { labels: {}, sharedLabels, value: histogram.sumMicros / 1e6, metricName: `${name}_sum` },
    { labels: {}, sharedLabels, value: histogram.count, metricName: `${name}_count` },
  );
  return out;
}
