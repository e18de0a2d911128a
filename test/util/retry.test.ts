import { describe, expect, it } from 'vitest';
import { NcacheError, invalidArgument, notFound, unavailable } from '../../src/util/errors.js';
import { backoffMs, retryWithBackoff } from '../../src/util/retry.js';

function recorder() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

/** A function failing with `errors` in turn, then returning "ok". */
function failing(errors: unknown[]) {
  let calls = 0;
  const fn = async (attempt: number) => {
    expect(attempt).toBe(calls);
    calls++;
    if (errors.length > 0) throw errors.shift();
    return 'ok';
  };
  return { fn, calls: () => calls };
}

describe('backoffMs', () => {
  it('doubles from delay and applies jitter around the nominal wait', () => {
    const policy = { max_retries: 5, delay: 0.1, jitter: 0.5 };
    expect(backoffMs(policy, 0, () => 0.5)).toBeCloseTo(100);
    expect(backoffMs(policy, 3, () => 0.5)).toBeCloseTo(800);
    // random 0 -> factor 0.75, random 1 -> 1.25
    expect(backoffMs(policy, 1, () => 0)).toBeCloseTo(150);
    expect(backoffMs(policy, 1, () => 1)).toBeCloseTo(250);
  });
});

describe('retryWithBackoff', () => {
  it('retries transient failures with the exact waits of the formula', async () => {
    const { waits, sleep } = recorder();
    const randoms = [0.2, 0.9, 0.5];
    const f = failing([unavailable('a'), unavailable('b'), unavailable('c')]);
    const retries: number[] = [];
    const out = await retryWithBackoff(f.fn, { max_retries: 3, delay: 0.01, jitter: 1 }, {
      sleep,
      random: () => randoms.shift()!,
      onRetry: (info) => retries.push(info.retry),
    });
    expect(out).toBe('ok');
    expect(f.calls()).toBe(4);
    expect(retries).toEqual([0, 1, 2]);
    expect(waits[0]).toBeCloseTo(10 * (1 + (0.2 - 0.5)));
    expect(waits[1]).toBeCloseTo(20 * (1 + (0.9 - 0.5)));
    expect(waits[2]).toBeCloseTo(40 * 1);
  });

  it('gives up after max_retries and rethrows the last error', async () => {
    const { waits, sleep } = recorder();
    const last = unavailable('third');
    const f = failing([unavailable('1'), unavailable('2'), last, unavailable('never reached')]);
    await expect(retryWithBackoff(f.fn, { max_retries: 2, delay: 1, jitter: 0 }, { sleep })).rejects.toBe(last);
    expect(f.calls()).toBe(3);
    expect(waits).toEqual([1000, 2000]);
  });

  it('never retries NotFound or InvalidArgument, even when isRetryable says yes', async () => {
    for (const err of [notFound('gone'), invalidArgument('bad')]) {
      const { waits, sleep } = recorder();
      const f = failing([err]);
      await expect(
        retryWithBackoff(f.fn, { max_retries: 5, delay: 1, jitter: 0 }, { sleep, isRetryable: () => true }),
      ).rejects.toBe(err);
      expect(f.calls()).toBe(1);
      expect(waits).toEqual([]);
    }
  });

  it('does not retry what isRetryable rejects, nor non-transient codes by default', async () => {
    const { waits, sleep } = recorder();
    const denied = new NcacheError('PERMISSION_DENIED', 'no');
    const f = failing([denied]);
    await expect(retryWithBackoff(f.fn, { max_retries: 5, delay: 1, jitter: 0 }, { sleep })).rejects.toBe(denied);
    expect(f.calls()).toBe(1);

    const g = failing([unavailable('x')]);
    await expect(
      retryWithBackoff(g.fn, { max_retries: 5, delay: 1, jitter: 0 }, { sleep, isRetryable: () => false }),
    ).rejects.toThrow('x');
    expect(waits).toEqual([]);
  });

  it('with max_retries 0 makes exactly one attempt', async () => {
    const { sleep } = recorder();
    const f = failing([unavailable('once')]);
    await expect(retryWithBackoff(f.fn, { max_retries: 0, delay: 1, jitter: 0 }, { sleep })).rejects.toThrow('once');
    expect(f.calls()).toBe(1);
  });
});
