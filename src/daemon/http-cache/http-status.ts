// The one place where ncache errors become HTTP statuses on the http_cache
// listener, and where an HTTP status is counted under the gRPC code `stats`
// shows (so both protocols' errors read the same in one table).
import { GrpcStatus } from '../../util/grpc-codes.js';
import { type ErrorCode, NcacheError, errorCode } from '../../util/errors.js';

/** An answer decided before or instead of touching a store: its status, message and headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const STATUS_OF_CODE: Record<ErrorCode, number> = {
  NOT_FOUND: 404,
  INVALID_ARGUMENT: 400,
  OUT_OF_RANGE: 416,
  FAILED_PRECONDITION: 400,
  ALREADY_EXISTS: 409,
  // A full disk: the request may succeed later, and 507 says why.
  RESOURCE_EXHAUSTED: 507,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  PERMISSION_DENIED: 403,
  ABORTED: 409,
  CANCELLED: 499,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
};

/** The HTTP status for an error: HttpError's own, an NcacheError's by its code, 500 for anything else. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  return STATUS_OF_CODE[errorCode(err)];
}

/** True for errors nobody asked for (a bug or a broken store), which are logged at error level. */
export function isUnexpected(err: unknown): boolean {
  return !(err instanceof HttpError) && (!(err instanceof NcacheError) || err.code === 'INTERNAL');
}

const CODE_OF_STATUS: Record<number, GrpcStatus> = {
  400: GrpcStatus.INVALID_ARGUMENT,
  401: GrpcStatus.UNAUTHENTICATED,
  403: GrpcStatus.PERMISSION_DENIED,
  404: GrpcStatus.NOT_FOUND,
  405: GrpcStatus.UNIMPLEMENTED,
  409: GrpcStatus.ABORTED,
  411: GrpcStatus.INVALID_ARGUMENT,
  413: GrpcStatus.INVALID_ARGUMENT,
  416: GrpcStatus.OUT_OF_RANGE,
  499: GrpcStatus.CANCELLED,
  501: GrpcStatus.UNIMPLEMENTED,
  503: GrpcStatus.UNAVAILABLE,
  504: GrpcStatus.DEADLINE_EXCEEDED,
  507: GrpcStatus.RESOURCE_EXHAUSTED,
};

/** The gRPC code an HTTP status is counted under in `stats` (2xx: OK; an unlisted one: UNKNOWN or INTERNAL). */
export function metricsCodeOf(status: number): GrpcStatus {
  if (status >= 200 && status < 300) return GrpcStatus.OK;
  return CODE_OF_STATUS[status] ?? (status >= 500 ? GrpcStatus.INTERNAL : GrpcStatus.UNKNOWN);
}
