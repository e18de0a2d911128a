// What an upstream's failure becomes: an NcacheError whose code is the
// upstream's gRPC status (UNAUTHENTICATED and DATA_LOSS, which ncache has no
// code for, become PERMISSION_DENIED and INTERNAL) and whose message names the
// upstream's address, the instance and the RPC, then the upstream's own words:
//   upstream grpc://10.0.0.5:8980 (instance "main") ContentAddressableStorage.FindMissingBlobs: UNAVAILABLE: ...
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { RetrySpec } from '../config/types.js';
import { type ErrorCode, NcacheError } from '../util/errors.js';
import { isTransient } from '../util/retry.js';

/** Which upstream and which call, for messages. */
export interface CallSite {
  /** The endpoint's address as configured ("grpc://10.0.0.5:8980"). */
  readonly address: string;
  /** The instance the call names; omitted from messages when undefined. */
  readonly instance?: string;
  /** "ContentAddressableStorage.FindMissingBlobs". */
  readonly rpc: string;
}

export function describeCall(site: CallSite): string {
  const instance = site.instance === undefined ? '' : ` (instance ${JSON.stringify(site.instance)})`;
  return `upstream ${site.address}${instance} ${site.rpc}`;
}

const CODE_OF: Partial<Record<GrpcStatus, ErrorCode>> = {
  [GrpcStatus.CANCELLED]: 'CANCELLED',
  [GrpcStatus.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'DEADLINE_EXCEEDED',
  [GrpcStatus.NOT_FOUND]: 'NOT_FOUND',
  [GrpcStatus.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [GrpcStatus.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [GrpcStatus.UNAUTHENTICATED]: 'PERMISSION_DENIED',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
  [GrpcStatus.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [GrpcStatus.ABORTED]: 'ABORTED',
  [GrpcStatus.OUT_OF_RANGE]: 'OUT_OF_RANGE',
  [GrpcStatus.UNIMPLEMENTED]: 'UNIMPLEMENTED',
  [GrpcStatus.UNAVAILABLE]: 'UNAVAILABLE',
};

/** A failed upstream call; `grpcCode` is the status the upstream (or grpc-js) reported. */
export class UpstreamError extends NcacheError {
  constructor(
    readonly grpcCode: GrpcStatus,
    readonly site: CallSite,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(CODE_OF[grpcCode] ?? 'INTERNAL', `${describeCall(site)}: ${GrpcStatus[grpcCode] ?? `status ${grpcCode}`}: ${details}`, options);
    this.name = 'UpstreamError';
  }
}

/** The shape of grpc-js's ServiceError that matters here. */
interface StatusLike {
  code: number;
  details: string;
}

function isStatusLike(err: unknown): err is StatusLike {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number' && 'details' in err && typeof err.details === 'string';
}

/** Any error from a grpc-js call at `site` as an UpstreamError (an NcacheError raised locally passes through). */
export function upstreamError(err: unknown, site: CallSite): NcacheError {
  if (err instanceof NcacheError) return err;
  if (isStatusLike(err)) return new UpstreamError(err.code as GrpcStatus, site, err.details || 'no details', { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new UpstreamError(GrpcStatus.INTERNAL, site, message, { cause: err });
}

/** NativeLink's code names (retry_on_errors) as grpc-js statuses. */
const STATUS_BY_NAME: Record<string, GrpcStatus> = {
  Cancelled: GrpcStatus.CANCELLED,
  Unknown: GrpcStatus.UNKNOWN,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  Aborted: GrpcStatus.ABORTED,
  OutOfRange: GrpcStatus.OUT_OF_RANGE,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  Internal: GrpcStatus.INTERNAL,
  Unavailable: GrpcStatus.UNAVAILABLE,
  DataLoss: GrpcStatus.DATA_LOSS,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
};

/**
 * Which failures the retry policy repeats: the statuses `retry_on_errors`
 * names, else the transient ones (UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, ABORTED). Local failures (a bad token file) never are;
 * NOT_FOUND and INVALID_ARGUMENT never are either (util/retry.ts).
 */
export function retryablePredicate(retry: RetrySpec): (err: unknown) => boolean {
  const names = retry.retry_on_errors;
  if (names === undefined) return (err) => err instanceof UpstreamError && isTransient(err);
  const statuses = new Set(names.map((n) => STATUS_BY_NAME[n]));
  return (err) => err instanceof UpstreamError && statuses.has(err.grpcCode);
}
