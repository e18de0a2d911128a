// The one place where ncache errors become gRPC statuses. Services throw
// NcacheErrors (or anything else, which counts as INTERNAL); the boundary
// adds "In Service.method: ..." context and picks the status code.
import { GrpcStatus, grpcStatusName } from '../util/grpc-codes.js';
import { type ErrorCode, NcacheError, errorCode, errorMessage, withoutStack } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

const CODES: Record<ErrorCode, GrpcStatus> = {
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  OUT_OF_RANGE: GrpcStatus.OUT_OF_RANGE,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  ALREADY_EXISTS: GrpcStatus.ALREADY_EXISTS,
  RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  ABORTED: GrpcStatus.ABORTED,
  CANCELLED: GrpcStatus.CANCELLED,
  UNIMPLEMENTED: GrpcStatus.UNIMPLEMENTED,
  INTERNAL: GrpcStatus.INTERNAL,
};

/** The gRPC status code for an error (INTERNAL for anything that is not an NcacheError). */
export function grpcCode(err: unknown): GrpcStatus {
  return CODES[errorCode(err)];
}

/** The google.rpc.Status fields for an error, e.g. a per-blob status in a batch response. */
export function rpcStatusOf(err: unknown, context?: string): { code: number; message: string } {
  const message = errorMessage(err);
  return { code: grpcCode(err), message: context ? `${context}: ${message}` : message };
}

export const OK_STATUS = { code: GrpcStatus.OK, message: '' } as const;

/** An error as a call's status: the code, and the message the client sees. */
export interface CallError extends Error {
  code: number;
  details: string;
}

/**
 * Converts an error into the status a call ends with: code plus
 * "In <context>: <message>". Unexpected errors are logged here, once.
 */
export function toServiceError(err: unknown, context: string, logger?: Logger): CallError {
  const code = grpcCode(err);
  const details = `In ${context}: ${errorMessage(err)}`;
  if (code === GrpcStatus.INTERNAL || !(err instanceof NcacheError)) {
    logger?.error(details, { stack: err instanceof Error ? err.stack : undefined });
  } else {
    logger?.debug(details, { code: grpcStatusName(code) });
  }
  // Only code and details are sent: no stack to capture (a cold build has a miss per action).
  return withoutStack(() => Object.assign(new Error(details), { code, details }));
}
