// Splits one byte stream into several that are consumed concurrently, with
// bounded buffering: the source is pulled only while every attached branch
// holds less than `highWaterBytes`, so the slowest consumer sets the pace and
// memory stays bounded. A branch that stops early (return()) detaches without
// disturbing the others; abort() fails every branch (so no consumer commits).
import type { ByteStream } from './store.js';

export const DEFAULT_TEE_HIGH_WATER_BYTES = 8 * 1024 * 1024;

export interface Tee {
  readonly branches: readonly AsyncIterableIterator<Buffer>[];
  /** Makes every branch throw `err` at its next read and releases the source. */
  abort(err: unknown): void;
}

interface BranchState {
  queue: Buffer[];
  queuedBytes: number;
  detached: boolean;
  wake: (() => void) | undefined;
}

export function teeStream(source: ByteStream, count: number, highWaterBytes = DEFAULT_TEE_HIGH_WATER_BYTES): Tee {
  const iterator = source[Symbol.asyncIterator]();
  const states: BranchState[] = Array.from({ length: count }, () => ({
    queue: [],
    queuedBytes: 0,
    detached: false,
    wake: undefined,
  }));
  let pulling = false;
  let ended = false;
  let failure: { err: unknown } | undefined;
  let released = false;

  const wakeAll = () => {
    for (const s of states) {
      const wake = s.wake;
      s.wake = undefined;
      wake?.();
    }
  };

  const release = () => {
    if (released) return;
    released = true;
    if (!ended) void iterator.return?.()?.catch(() => {});
  };

  const pump = () => {
    if (pulling || ended || failure) return;
    const attached = states.filter((s) => !s.detached);
    if (attached.length === 0) return;
    // Backpressure: wait for the slowest attached branch to drain below the mark.
    if (attached.some((s) => s.queuedBytes >= highWaterBytes)) return;
    pulling = true;
    iterator.next().then(
      (result) => {
        pulling = false;
        if (failure) return;
        if (result.done) {
          ended = true;
        } else {
          const chunk = result.value;
          for (const s of states) {
            if (s.detached) continue;
            s.queue.push(chunk);
            s.queuedBytes += chunk.length;
          }
        }
        wakeAll();
        // Keep reading ahead while someone is waiting or nobody is full.
        pump();
      },
      (err: unknown) => {
        pulling = false;
        ended = true;
        failure ??= { err };
        wakeAll();
      },
    );
  };

  const makeBranch = (state: BranchState): AsyncIterableIterator<Buffer> => {
    const branch: AsyncIterableIterator<Buffer> = {
      [Symbol.asyncIterator]: () => branch,
      async next(): Promise<IteratorResult<Buffer>> {
        for (;;) {
          if (state.detached) return { value: undefined, done: true };
          if (failure) throw failure.err;
          const chunk = state.queue.shift();
          if (chunk !== undefined) {
            state.queuedBytes -= chunk.length;
            pump();
            return { value: chunk, done: false };
          }
          if (ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => {
            state.wake = resolve;
            pump();
          });
        }
      },
      async return(): Promise<IteratorResult<Buffer>> {
        if (!state.detached) {
          state.detached = true;
          state.queue = [];
          state.queuedBytes = 0;
          if (states.every((s) => s.detached)) release();
          else pump(); // this branch may have been the one holding the others back
        }
        return { value: undefined, done: true };
      },
    };
    return branch;
  };

  return {
    branches: states.map(makeBranch),
    abort(err: unknown) {
      if (failure) return;
      failure = { err };
      for (const s of states) {
        s.queue = [];
        s.queuedBytes = 0;
      }
      wakeAll();
      release();
    },
  };
}
