// The last bytes of an upload, kept until the upstream is known to hold them:
// when a Write breaks, the upstream's committed_size says where to continue,
// and the bytes from there on must still be here. Bounded: once more than
// `capacity` bytes are held, the oldest pieces are dropped (a resume from
// before `start` is then impossible, and the upload fails instead).
export class RetainedWindow {
  private readonly pieces: Buffer[] = [];
  private held = 0;
  /** Offset of the first byte still held. */
  start = 0;

  constructor(readonly capacity: number) {}

  /** Offset just past the last byte taken. */
  get end(): number {
    return this.start + this.held;
  }

  push(piece: Buffer): void {
    this.pieces.push(piece);
    this.held += piece.length;
    while (this.pieces.length > 1 && this.held - this.pieces[0]!.length >= this.capacity) {
      const dropped = this.pieces.shift()!;
      this.held -= dropped.length;
      this.start += dropped.length;
    }
  }

  /** Up to `max` bytes from `offset` (start <= offset < end), from one held piece. */
  slice(offset: number, max: number): Buffer {
    if (offset < this.start || offset >= this.end) throw new RangeError(`offset ${offset} is outside the held bytes [${this.start}, ${this.end})`);
    let at = this.start;
    for (const piece of this.pieces) {
      if (offset < at + piece.length) return piece.subarray(offset - at, Math.min(piece.length, offset - at + max));
      at += piece.length;
    }
    throw new RangeError(`offset ${offset} not found`);
  }
}
