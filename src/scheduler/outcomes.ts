// Outcomes the scheduler itself gives an operation that no worker finished:
// lost workers, bugs, cancellation, shutdown, no worker at all. Each carries an
// empty ActionResult: Bazel rejects a finished operation without one.
import { GrpcStatus as Code } from '../util/grpc-codes.js';
import { errorCode, errorMessage } from '../util/errors.js';
import { emptyActionResult, type JobOutcome } from './job.js';

export { Code };

/** A finished operation whose action did not run to its end: `code` says why. */
export function failedOutcome(code: Code, message: string): JobOutcome {
  return { result: emptyActionResult(), status: { code, message, details: [] }, message };
}

/** Failed: a non-OK status, or a command that exited non-zero. */
export function isFailure(outcome: JobOutcome): boolean {
  return outcome.status.code !== Code.OK || outcome.result.exitCode !== 0;
}

/** A finished operation for an error thrown on its way (a failed lookup, a refused submit): its code, its message. */
export function errorOutcome(err: unknown): JobOutcome {
  return failedOutcome(Code[errorCode(err)], errorMessage(err));
}
