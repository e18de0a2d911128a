import { afterEach, describe, expect, it, vi } from 'vitest';
import { StallWatch } from '../../src/daemon/stall-watch.js';

/** An iterator whose next() resolves only when the test pushes a value. */
function manualMessages<T>() {
  const waiting: ((r: IteratorResult<T>) => void)[] = [];
  return {
    iterator: { next: () => new Promise<IteratorResult<T>>((resolve) => waiting.push(resolve)) } as AsyncIterator<T>,
    send(value: T) {
      waiting.shift()?.({ value, done: false });
    },
  };
}

describe('StallWatch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes messages through and fails the wait once the client has sent nothing for the limit', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const watch = new StallWatch(1000);
    const messages = manualMessages<number>();
    const first = watch.next(messages.iterator, () => 'first stalled');
    messages.send(1);
    await expect(first).resolves.toEqual({ value: 1, done: false });
    const second = watch.next(messages.iterator, () => 'upload stalled after 1 message');
    const outcome = expect(second).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', message: 'upload stalled after 1 message' });
    await vi.advanceTimersByTimeAsync(999);
    await vi.advanceTimersByTimeAsync(1);
    await outcome;
    watch.stop();
  });

  it('counts only time spent waiting for the client, not time the server spends between messages', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const watch = new StallWatch(1000);
    const messages = manualMessages<number>();
    const first = watch.next(messages.iterator, () => 'stalled');
    await vi.advanceTimersByTimeAsync(600);
    messages.send(1);
    await first;
    // The server is busy (a slow store) for longer than the limit: not a stall.
    await vi.advanceTimersByTimeAsync(5000);
    const second = watch.next(messages.iterator, () => 'stalled');
    await vi.advanceTimersByTimeAsync(900);
    messages.send(2);
    await expect(second).resolves.toEqual({ value: 2, done: false });
    watch.stop();
  });
});
