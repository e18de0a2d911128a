// Small pieces every service handler uses: async handlers with one error
// path, request field checks, and writing streamed responses with backpressure.
import type { HandleUnary, ServerStreamCall, UnaryCall, UnaryCallback } from './grpc-server/calls.js';
import { DIGEST_FUNCTION_SHA256, DIGEST_FUNCTION_UNKNOWN } from '../proto/reapi.js';
import { type Digest, MAX_BLOB_SIZE, validateDigest } from '../util/digest.js';
import { invalidArgument } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { toServiceError } from './grpc-status.js';

/** Adapts an async function to a unary handler; any throw becomes a gRPC status with context. */
export function unaryHandler<Req, Res>(
  context: string,
  logger: Logger,
  fn: (request: Req, call: UnaryCall<Req>) => Promise<Res>,
): HandleUnary<Req, Res> {
  return (call: UnaryCall<Req>, callback: UnaryCallback<Res>) => {
    fn(call.request, call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err, context, logger)),
    );
  };
}

/** Ends a server-streaming call with an error status (with context). */
export function failStream<Req, Res>(call: ServerStreamCall<Req, Res>, err: unknown, context: string, logger: Logger): void {
  if (call.cancelled || call.destroyed) return;
  call.emit('error', toServiceError(err, context, logger));
}

/** Rejects requests for digest functions other than SHA-256 (unset means SHA-256). */
export function checkDigestFunction(value: number, field = 'digest_function'): void {
  if (value !== DIGEST_FUNCTION_UNKNOWN && value !== DIGEST_FUNCTION_SHA256) {
    throw invalidArgument(`${field}: digest function ${value} is not supported; this server uses SHA256 (1)`);
  }
}

/**
 * True for a well-formed SHA-256 digest. A plain character loop: this runs
 * for every digest of a 10,000-entry FindMissingBlobs, where a regular
 * expression per hash is measurably slower.
 */
export function isWellFormedDigest(d: { hash?: unknown; sizeBytes?: unknown }): boolean {
  const { hash, sizeBytes } = d;
  if (typeof hash !== 'string' || hash.length !== 64) return false;
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes < 0 || sizeBytes > MAX_BLOB_SIZE) return false;
  for (let i = 0; i < 64; i++) {
    const c = hash.charCodeAt(i);
    // 0-9 or a-f
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Validates a digest, fast when it is well-formed; the error (from validateDigest) names `field`. */
export function checkDigest(d: Digest, field: string): Digest {
  return isWellFormedDigest(d) ? d : validateDigest(d, field);
}

/** A required Digest field: present and well-formed. */
export function requireDigest(value: Digest | null | undefined, field: string): Digest {
  if (value === null || value === undefined) throw invalidArgument(`${field} is required`);
  return validateDigest(value, field);
}

/**
 * Writes messages to a server stream, keeping at most `limitBytes` handed to
 * HTTP/2 but not yet sent, so a slow client slows the reader instead of
 * growing memory. Rejects if the call is cancelled while waiting.
 */
export class StreamWriter<T> {
  private inFlight = 0;
  private wake: (() => void) | undefined;
  /** The call was cancelled or closed. A flag, not an Error: 'close' ends every call, and a stack per call costs. */
  private stopped = false;

  constructor(
    private readonly call: ServerStreamCall<unknown, T>,
    private readonly limitBytes: number,
  ) {
    const stop = () => {
      this.stopped = true;
      this.wake?.();
    };
    call.once('cancelled', stop);
    call.once('close', stop);
  }

  get cancelled(): boolean {
    return this.stopped || this.call.cancelled;
  }

  /** Sends `message`; `sent` runs once HTTP/2 has let go of its bytes (sent, or dropped with the call). */
  async write(message: T, bytes: number, sent?: () => void): Promise<void> {
    if (this.stopped) throw cancelledError();
    this.inFlight += bytes;
    this.call.write(message, () => {
      this.inFlight -= bytes;
      sent?.();
      if (this.inFlight <= this.limitBytes) this.wake?.();
    });
    while (this.inFlight > this.limitBytes && !this.stopped) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    if (this.stopped) throw cancelledError();
  }

  end(): void {
    if (!this.cancelled) this.call.end();
  }
}

function cancelledError(): Error {
  return new Error('the client cancelled the call');
}
