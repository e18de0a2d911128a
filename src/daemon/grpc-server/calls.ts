// What a handler holds for one call: the request (or a stream of them), the
// call's state, and for server-streaming calls a way to send messages and
// end. The events and fields are the ones the handlers and instrument.ts
// use: 'cancelled' (the client went away or the deadline passed), 'error'
// (a handler ends the call with that status), 'finish' (the status went out)
// and 'close' (the HTTP/2 stream is gone).
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import type { SerializedMessage } from './frames.js';
import type { CallResponder } from './responder.js';
import { OK, statusOf } from './status.js';

/** State every call shares. */
export class CallBase extends EventEmitter {
  constructor(
    protected readonly responder: CallResponder,
    /** The request's HTTP/2 headers (gRPC metadata), `authorization` removed. */
    readonly metadata: IncomingHttpHeaders,
  ) {
    super();
  }

  /** The client cancelled, disconnected or ran out of deadline: nothing more reaches it. */
  get cancelled(): boolean {
    return this.responder.cancelled;
  }

  /** The call is over: its status went out, or it was cancelled. */
  get destroyed(): boolean {
    return this.responder.done;
  }

  /** "ADDRESS:PORT" of the client. */
  getPeer(): string {
    return this.responder.peer();
  }
}

/** A unary or client-streaming call's answer: an error, or the response message. */
export type UnaryCallback<Res> = (err: unknown, value?: Res | null) => void;

export class UnaryCall<Req> extends CallBase {
  constructor(
    responder: CallResponder,
    metadata: IncomingHttpHeaders,
    readonly request: Req,
  ) {
    super(responder, metadata);
  }
}

/** A call whose response is a stream of messages. */
export class ServerStreamCall<Req, Res> extends CallBase {
  constructor(
    responder: CallResponder,
    metadata: IncomingHttpHeaders,
    readonly request: Req,
    private readonly serialize: (message: Res) => SerializedMessage,
  ) {
    super(responder, metadata);
    // Registered first, so every other 'error' listener (instrument.ts's) has
    // run by the time 'finish' is emitted, a tick later.
    this.on('error', (err: unknown) => this.responder.finish(statusOf(err)));
  }

  /** Sends one message; `done` runs once HTTP/2 has taken it (flow control) or the call is gone. */
  write(message: Res, done?: () => void): boolean {
    return this.responder.send(this.serialize(message), done);
  }

  /** Ends the call with OK. */
  end(): void {
    this.responder.finish(OK);
  }
}

/** The handler of a unary call: answers through `callback`. */
export type HandleUnary<Req, Res> = (call: UnaryCall<Req>, callback: UnaryCallback<Res>) => void;
/** The handler of a server-streaming call: writes to the call, then ends it or emits 'error'. */
export type HandleServerStream<Req, Res> = (call: ServerStreamCall<Req, Res>) => void;
/** The handler of a client-streaming call: reads the call's messages, answers through `callback`. */
export type HandleClientStream<Req, Res> = (call: ClientStreamCall<Req>, callback: UnaryCallback<Res>) => void;

/** A call whose request is a stream of messages (ByteStream.Write). */
export class ClientStreamCall<Req> extends CallBase {
  constructor(
    responder: CallResponder,
    metadata: IncomingHttpHeaders,
    private readonly messages: AsyncIterator<Req>,
  ) {
    super(responder, metadata);
  }

  /** The request messages, in order; rejects when the call is cancelled or a message is bad. */
  [Symbol.asyncIterator](): AsyncIterator<Req> {
    return this.messages;
  }
}
