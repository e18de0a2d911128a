// How the gRPC fuzz families judge one call: answered in bounded time, and
// with a status that is a deliberate answer rather than a crash or a bug.
import { type ServiceError, status } from '@grpc/grpc-js';

/** Statuses that mean the server broke (or vanished), not that the request was wrong. */
const UNCLEAN = new Set<number>([status.INTERNAL, status.UNKNOWN, status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.DATA_LOSS]);

/**
 * grpc-js answers bytes that do not parse as the request message with
 * INTERNAL "Error deserializing request" before any handler runs, as
 * grpc-java does for an invalid protobuf byte sequence: the gRPC convention
 * for a malformed message (the parser's reason is only sent with
 * GRPC_NODE_DEBUG_SEND_ERROR_DETAILS).
 */
const UNDECODABLE = /^Error deserializing request/;

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

/** True for a status a well-behaved server may answer bad input with. */
export function isClean(err: ServiceError): boolean {
  if (err.details === undefined || err.details === '') return false;
  if (err.code === status.INTERNAL) return UNDECODABLE.test(err.details);
  return !UNCLEAN.has(err.code);
}

/** "OK", "INVALID_ARGUMENT", ..., or "INTERNAL (undecodable)" for grpc-js's parse failure. */
export function outcomeName(err: ServiceError | undefined): string {
  if (err === undefined) return 'OK';
  const name = status[err.code] ?? `code ${err.code}`;
  return err.code === status.INTERNAL && UNDECODABLE.test(err.details) ? `${name} (undecodable)` : name;
}

/**
 * Waits for a call: undefined when it succeeded, its ServiceError when it
 * failed, 'hang' when it did not settle within `ms`. Anything thrown that is
 * not a gRPC status (a bug in the test's client side) is rethrown.
 */
export async function answerWithin(call: Promise<unknown>, ms: number): Promise<ServiceError | undefined | 'hang'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), ms)));
  try {
    return await Promise.race([
      call.then(
        () => undefined,
        (err: unknown) => {
          if (isServiceError(err)) return err;
          throw err;
        },
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
