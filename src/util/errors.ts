// Typed errors that carry a gRPC-style status code. Stores and services throw
// these; the service boundary (src/daemon/grpc-status.ts) maps `code` to a gRPC
// status and src/cli.ts maps them to messages and exit codes.

export type ErrorCode =
  | 'NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'OUT_OF_RANGE'
  | 'FAILED_PRECONDITION'
  | 'ALREADY_EXISTS'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'PERMISSION_DENIED'
  | 'ABORTED'
  | 'CANCELLED'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export class NcacheError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'NcacheError';
  }
}

/**
 * Builds an error without capturing a stack trace, for outcomes that are
 * answers rather than faults and happen once per request or more: a miss, a
 * call that has ended. Their stacks are never shown, and capturing one costs
 * more than the rest of the outcome (about 20 µs each in the daemon).
 */
export function withoutStack<T extends Error>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A miss is an answer, not a fault: a cold build gets one per action (the service boundary logs NOT_FOUND without a stack). */
export const notFound = (message: string) => withoutStack(() => new NcacheError('NOT_FOUND', message));
export const invalidArgument = (message: string) => new NcacheError('INVALID_ARGUMENT', message);
export const outOfRange = (message: string) => new NcacheError('OUT_OF_RANGE', message);
export const failedPrecondition = (message: string) => new NcacheError('FAILED_PRECONDITION', message);
export const unavailable = (message: string) => new NcacheError('UNAVAILABLE', message);
export const unimplemented = (message: string) => new NcacheError('UNIMPLEMENTED', message);
export const internal = (message: string, cause?: unknown) =>
  new NcacheError('INTERNAL', message, cause === undefined ? undefined : { cause });

/** The code of any thrown value: NcacheError keeps its own, anything else is INTERNAL. */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof NcacheError ? err.code : 'INTERNAL';
}

export function isNotFound(err: unknown): boolean {
  return errorCode(err) === 'NOT_FOUND';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Re-throws `err` with `context` prepended ("In CasServer.batchUpdateBlobs: ..."),
 * keeping its code so a NotFound stays a NotFound as it rises.
 */
export function withContext(context: string, err: unknown): NcacheError {
  return new NcacheError(errorCode(err), `${context}: ${errorMessage(err)}`, { cause: err });
}
