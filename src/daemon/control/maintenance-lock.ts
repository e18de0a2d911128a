// gc and verify would trip over each other's removals, so a daemon runs one
// at a time. Each running daemon has its own lock (RunningDaemon -> ControlContext).
import { failedPrecondition } from '../../util/errors.js';

export class MaintenanceLock {
  private running: string | undefined;

  /** Runs `run` unless another job holds the lock (then FAILED_PRECONDITION naming it). */
  async exclusive<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.running !== undefined) {
      throw failedPrecondition(`a ${this.running} is already running in this daemon; wait for it to finish`);
    }
    this.running = what;
    try {
      return await run();
    } finally {
      this.running = undefined;
    }
  }
}
