// The `retry` block NativeLink uses wherever ncache talks to a remote service
// (S3, an upstream REAPI server): max_retries, delay, jitter, retry_on_errors.
import type { RetrySpec } from './types.js';
import { array, duration, int, num, object, oneOf, type Reader } from './reader.js';

/** NativeLink's Retry defaults to zero everything: one attempt, no retries. */
export const RETRY_DEFAULTS: RetrySpec = { max_retries: 0, delay: 0, jitter: 0 };

export const GRPC_CODE_NAMES = [
  'Cancelled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

export const retry: Reader<RetrySpec> = object<RetrySpec>((f) => {
  const out: RetrySpec = {
    max_retries: f.opt('max_retries', int(), RETRY_DEFAULTS.max_retries),
    delay: f.opt('delay', duration({ fractional: true }), RETRY_DEFAULTS.delay),
    jitter: f.opt('jitter', num({ min: 0, max: 1 }), RETRY_DEFAULTS.jitter),
  };
  const codes = f.maybe('retry_on_errors', array(oneOf(GRPC_CODE_NAMES)));
  if (codes !== undefined) out.retry_on_errors = codes;
  return out;
});
