// gRPC's status codes, whose numbers the gRPC spec fixes. The daemon's own
// server, the HTTP cache, the scheduler and the workers need only these;
// taking them from @grpc/grpc-js loaded that whole client library into every
// daemon, which only a daemon with an upstream (src/upstream/) uses.
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const NAMES = Object.keys(GrpcStatus) as (keyof typeof GrpcStatus)[];

/** "NOT_FOUND" for 5; the number itself for a code gRPC does not define. */
export function grpcStatusName(code: number): string {
  return NAMES[code] ?? String(code);
}
