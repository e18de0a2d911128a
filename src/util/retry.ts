// Exponential backoff with jitter, as DESIGN.md states it: the wait before
// retry n (n from 0) is delay * 2^n * (1 + jitter * (random() - 0.5)), at most
// max_retries retries. Sleep and randomness are injected so tests record the
// waits instead of sleeping.
import { errorCode } from './errors.js';

export interface RetryPolicy {
  readonly max_retries: number;
  /** Seconds before the first retry; doubles each retry. */
  readonly delay: number;
  /** 0..1: each wait is multiplied by (1 + jitter * (random() - 0.5)). */
  readonly jitter: number;
}

export interface RetryInfo {
  /** 0 for the first retry. */
  readonly retry: number;
  readonly waitMs: number;
  readonly error: unknown;
}

export interface RetryHooks {
  /** Waits `ms` milliseconds (default: a real timer). */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1) (default: Math.random). */
  random?: () => number;
  /** Whether an error is worth another attempt (default: transient gRPC-like codes). */
  isRetryable?: (err: unknown) => boolean;
  /** Called before each wait, e.g. to count retries or log. */
  onRetry?: (info: RetryInfo) => void;
}

const TRANSIENT_CODES = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'ABORTED']);

/** The default: retry only codes that say "try again later". */
export function isTransient(err: unknown): boolean {
  return TRANSIENT_CODES.has(errorCode(err));
}

/** NotFound and InvalidArgument are answers, not failures: retrying cannot change them. */
function neverRetried(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'NOT_FOUND' || code === 'INVALID_ARGUMENT';
}

/** The wait in milliseconds before retry `n` (from 0). */
export function backoffMs(policy: RetryPolicy, n: number, random: () => number = Math.random): number {
  const factor = 1 + policy.jitter * (random() - 0.5);
  return Math.max(0, policy.delay * 1000 * 2 ** n * factor);
}

export const realSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/**
 * Runs `fn` (given the attempt number from 0), retrying retryable failures with
 * backoff. The last error is rethrown unchanged once retries are used up.
 */
export async function retryWithBackoff<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  const sleep = hooks.sleep ?? realSleep;
  const random = hooks.random ?? Math.random;
  const isRetryable = hooks.isRetryable ?? isTransient;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.max_retries || neverRetried(err) || !isRetryable(err)) throw err;
      const waitMs = backoffMs(policy, attempt, random);
      hooks.onRetry?.({ retry: attempt, waitMs, error: err });
      await sleep(waitMs);
    }
  }
}
