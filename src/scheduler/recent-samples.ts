// The last N measurements (queue wait, execution time) for percentiles in
// `ncache stats`: bounded memory however long the daemon runs. Every
// measurement also goes into a cumulative log-bucketed histogram (fixed size),
// which Prometheus histograms need and a window of recent values cannot give.
import { LatencyHistogram } from '../daemon/metrics.js';

export class RecentSamples {
  /** Every value added since construction, in milliseconds. */
  readonly totals = new LatencyHistogram();
  private readonly ring: number[] = [];
  private next = 0;

  constructor(private readonly capacity = 1000) {}

  add(value: number): void {
    this.totals.record(value);
    if (this.ring.length < this.capacity) this.ring.push(value);
    else this.ring[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  values(): number[] {
    if (this.ring.length < this.capacity) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
