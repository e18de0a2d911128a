// The last N measurements (queue wait, execution time) for percentiles in
// `ncache stats`: bounded memory however long the daemon runs.
export class RecentSamples {
  private readonly ring: number[] = [];
  private next = 0;

  constructor(private readonly capacity = 1000) {}

  add(value: number): void {
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
