// The response side of one call on its HTTP/2 stream: headers once, then
// framed messages, then the status as trailers (or, when nothing was sent,
// as the only header block: gRPC's "Trailers-Only"). It also owns the
// call's end: the deadline, and the client going away.
import type { EventEmitter } from 'node:events';
import type { ServerHttp2Stream } from 'node:http2';
import { type SerializedMessage, frameHeader, messageLength } from './frames.js';
import { type CallStatus, statusFields } from './status.js';

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' } as const;

const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;

export class CallResponder {
  /** The status went out, or the client is gone: nothing more is sent. */
  done = false;
  /** The client cancelled or disconnected, or the deadline passed, before the call ended. */
  cancelled = false;
  private headersSent = false;
  private call: EventEmitter | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly maxSendBytes: number,
    timeoutMs: number | undefined,
  ) {
    if (timeoutMs !== undefined) {
      this.deadline = setTimeout(() => this.expire(), timeoutMs);
    }
    stream.once('close', () => {
      clearTimeout(this.deadline);
      if (!this.done) this.cancel();
      this.call?.emit('close');
    });
  }

  /** The call object whose 'cancelled', 'finish' and 'close' events this emits. */
  bind(call: EventEmitter): void {
    this.call = call;
  }

  peer(): string {
    const s = this.stream.session?.socket;
    return s === undefined ? 'unknown' : `${s.remoteAddress ?? 'unknown'}:${s.remotePort ?? 0}`;
  }

  /**
   * Sends one serialized message, framed; `written` runs once HTTP/2 has
   * taken it (so a slow client slows the sender) or at once if the call is
   * over. False when the message was not sent (the call is over, or the
   * message is over the send limit, which ends the call).
   */
  send(message: SerializedMessage, written?: () => void): boolean {
    if (this.done || this.stream.destroyed) {
      if (written !== undefined) process.nextTick(written);
      return false;
    }
    const length = messageLength(message);
    if (length > this.maxSendBytes) {
      this.finish({
        code: RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${length} vs. ${this.maxSendBytes}) (listener max_encoding_message_size)`,
      });
      if (written !== undefined) process.nextTick(written);
      return false;
    }
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    }
    // The prefix and the pieces as one writev, none of them copied: HTTP/2
    // packs them into DATA frames as they fit. `written` rides on the last.
    const stream = this.stream;
    const pieces: readonly Buffer[] = Array.isArray(message) ? (message as readonly Buffer[]) : [message as Buffer];
    stream.cork();
    stream.write(frameHeader(length), pieces.length === 0 ? written : undefined);
    for (let i = 0; i < pieces.length; i++) stream.write(pieces[i], i === pieces.length - 1 ? written : undefined);
    stream.uncork();
    return true;
  }

  /** Ends the call with `status` (once; later calls do nothing). */
  finish(status: CallStatus): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.deadline);
    const stream = this.stream;
    if (!stream.destroyed && !stream.closed) {
      if (!this.headersSent) {
        this.headersSent = true;
        stream.respond({ ...RESPONSE_HEADERS, ...statusFields(status) }, { endStream: true });
      } else {
        const trailers = statusFields(status);
        stream.once('wantTrailers', () => stream.sendTrailers(trailers));
        stream.end();
      }
    }
    // Whatever the client still sends is read and dropped, so it never holds the connection's window.
    stream.resume();
    const call = this.call;
    if (call !== undefined) process.nextTick(() => call.emit('finish'));
  }

  private expire(): void {
    if (this.done) return;
    this.finish({ code: DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
    this.cancelled = true;
    this.call?.emit('cancelled');
  }

  private cancel(): void {
    this.done = true;
    this.cancelled = true;
    this.call?.emit('cancelled');
  }
}
