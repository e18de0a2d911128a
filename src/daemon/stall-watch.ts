// Detects a Write whose client stops sending: the next message is awaited
// against one timer per stream rather than a fresh timer and race per
// message (a cold build's uploads are thousands of 16 KiB messages). Only
// time spent waiting for the client counts: a store that is slow to take the
// bytes (backpressure) is not the client stalling.
import { NcacheError } from '../util/errors.js';

export class StallWatch {
  /** When the current wait for a message began; undefined while not waiting. */
  private waitingSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private describe: () => string = () => 'the client sent nothing';
  /**
   * Fails the current wait: one per wait. Racing every wait against one
   * long-lived promise would pile a reaction per message onto it, keeping
   * every message (and its bytes) alive until the stream ends.
   */
  private failWait: ((err: Error) => void) | undefined;

  constructor(private readonly ms: number) {}

  /** The next message, or DEADLINE_EXCEEDED (message from `describe`) once the client has sent nothing for `ms`. */
  async next<T>(messages: AsyncIterator<T>, describe: () => string): Promise<IteratorResult<T>> {
    const next = messages.next();
    next.catch(() => {}); // after a stall nobody waits for it any more
    this.describe = describe;
    this.waitingSince = Date.now();
    this.timer ??= setTimeout(() => this.check(), this.ms);
    try {
      return await new Promise<IteratorResult<T>>((resolve, reject) => {
        this.failWait = reject;
        next.then(resolve, reject);
      });
    } finally {
      this.waitingSince = undefined;
      this.failWait = undefined;
    }
  }

  /** Stops the timer (the stream is done). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    this.timer = undefined;
    // Not waiting: the next wait starts the timer again.
    if (this.waitingSince === undefined) return;
    const waited = Date.now() - this.waitingSince;
    if (waited >= this.ms) this.failWait?.(new NcacheError('DEADLINE_EXCEEDED', this.describe()));
    else this.timer = setTimeout(() => this.check(), this.ms - waited);
  }
}
