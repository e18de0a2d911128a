// Routes each HTTP/2 stream of a gRPC listener to its method: checks the
// request is gRPC, lets the listener's door (auth) decide, reads the request,
// and runs the handler with a call object (calls.ts) whose answer the
// responder writes back.
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { MethodDefinition } from '@grpc/grpc-js';
import { NcacheError, withoutStack } from '../../util/errors.js';
import { ClientStreamCall, type HandleClientStream, type HandleServerStream, type HandleUnary, ServerStreamCall, UnaryCall } from './calls.js';
import { MessageParser, type SerializedMessage, joinPieces } from './frames.js';
import { RequestMessages } from './request-messages.js';
import { CallResponder } from './responder.js';
import { type CallStatus, OK, parseTimeout, statusOf } from './status.js';

type UnaryHandler = HandleUnary<unknown, unknown>;
type ServerStreamHandler = HandleServerStream<unknown, unknown>;
type ClientStreamHandler = HandleClientStream<unknown, unknown>;

/**
 * A method's definition as the server takes it: grpc-js's, except that a
 * response may serialize to pieces (frames.ts) instead of one buffer.
 */
export interface ServedMethodDefinition extends Omit<MethodDefinition<unknown, unknown>, 'responseSerialize'> {
  responseSerialize(value: unknown): SerializedMessage;
  /**
   * For a client-streaming method: one request message, as the pieces it
   * arrived in, to the values its handler reads. Without it the pieces are
   * joined and `requestDeserialize` gives one value.
   */
  requestDeserializePieces?(pieces: Buffer[]): unknown[];
}

/** One method as registered: its definition (path, codecs, shape) and its handler. */
export type RegisteredMethod =
  | { readonly kind: 'unary'; readonly def: ServedMethodDefinition; readonly handler: UnaryHandler }
  | { readonly kind: 'serverStream'; readonly def: ServedMethodDefinition; readonly handler: ServerStreamHandler }
  | { readonly kind: 'clientStream'; readonly def: ServedMethodDefinition; readonly handler: ClientStreamHandler };

export interface RouterOptions {
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  /** Request messages a client-streaming call holds before HTTP/2 flow control makes the client wait. */
  readonly readAheadMessages: number;
  /** The listener's door: a status refuses the call before its handler sees it (src/daemon/auth/). */
  readonly admit?: (path: string, headers: IncomingHttpHeaders, peer: () => string) => CallStatus | undefined;
}

const UNIMPLEMENTED = 12;
const INTERNAL = 13;

export class GrpcRouter {
  private readonly methods = new Map<string, RegisteredMethod>();

  constructor(private readonly opts: RouterOptions) {}

  add(method: RegisteredMethod): void {
    if (this.methods.has(method.def.path)) throw new Error(`${method.def.path} is registered twice`);
    this.methods.set(method.def.path, method);
  }

  /** Handles one incoming HTTP/2 stream. */
  serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // An error on a stream (a reset, a write after the client left) ends that call, never the process.
    stream.on('error', () => {});
    const contentType = headers['content-type'];
    if (headers[':method'] !== 'POST' || typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: false });
      stream.end('this is a gRPC listener: send gRPC (POST, content-type application/grpc)\n');
      return;
    }
    const path = headers[':path'] ?? '';
    const responder = new CallResponder(stream, this.opts.maxSendMessageBytes, parseTimeout(headers['grpc-timeout']));
    const method = this.methods.get(path);
    if (method === undefined) {
      responder.finish({ code: UNIMPLEMENTED, details: `The server does not implement the method ${path}` });
      return;
    }
    const refusal = this.opts.admit?.(path, headers, () => responder.peer());
    if (refusal !== undefined) {
      responder.finish(refusal);
      return;
    }
    // Handlers have no use for the token; keep it out of anything they might log.
    delete headers.authorization;
    const parser = new MessageParser(this.opts.maxReceiveMessageBytes);
    if (method.kind === 'clientStream') {
      this.startClientStream(method, stream, headers, responder, parser);
      return;
    }
    readOneMessage(stream, parser, (err, bytes) => {
      // The deadline may have passed while the request arrived: then nothing runs.
      if (responder.done) return;
      if (err !== undefined || bytes === undefined) {
        responder.finish(statusOf(err));
        return;
      }
      let request: unknown;
      try {
        request = method.def.requestDeserialize(bytes);
      } catch (cause) {
        responder.finish({ code: INTERNAL, details: `Error deserializing request: ${String(cause)}` });
        return;
      }
      guarded(responder, () => (method.kind === 'unary' ? runUnary(method, responder, headers, request) : runServerStream(method, responder, headers, request)));
    });
  }

  private startClientStream(
    method: Extract<RegisteredMethod, { kind: 'clientStream' }>,
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    responder: CallResponder,
    parser: MessageParser,
  ): void {
    const def = method.def;
    const decode = def.requestDeserializePieces?.bind(def) ?? ((pieces: Buffer[]) => [def.requestDeserialize(joinPieces(pieces))]);
    const messages = new RequestMessages(stream, parser, decode, this.opts.readAheadMessages, (status) => responder.finish(status));
    const call = new ClientStreamCall(responder, headers, messages);
    responder.bind(call);
    call.once('cancelled', () => messages.fail(new NcacheError('CANCELLED', 'the client cancelled the call')));
    guarded(responder, () =>
      method.handler(call, (err, value) => {
        // Every upload ends here: a stack would cost more than the rest of the ending.
        messages.fail(withoutStack(() => new NcacheError('CANCELLED', 'the call has ended')));
        answer(method.def, responder, err, value);
      }),
    );
  }
}

/** Runs a handler; one that throws instead of answering ends its call, never the daemon. */
function guarded(responder: CallResponder, run: () => void): void {
  try {
    run();
  } catch (err) {
    responder.finish(statusOf(err));
  }
}

function runUnary(method: Extract<RegisteredMethod, { kind: 'unary' }>, responder: CallResponder, headers: IncomingHttpHeaders, request: unknown): void {
  const call = new UnaryCall(responder, headers, request);
  responder.bind(call);
  method.handler(call, (err, value) => answer(method.def, responder, err, value));
}

function runServerStream(
  method: Extract<RegisteredMethod, { kind: 'serverStream' }>,
  responder: CallResponder,
  headers: IncomingHttpHeaders,
  request: unknown,
): void {
  const call = new ServerStreamCall(responder, headers, request, (m) => method.def.responseSerialize(m));
  responder.bind(call);
  method.handler(call);
}

/** A unary answer: the status, or the message then OK. */
function answer(def: ServedMethodDefinition, responder: CallResponder, err: unknown, value: unknown): void {
  if (err !== null && err !== undefined) {
    responder.finish(statusOf(err));
    return;
  }
  let bytes: SerializedMessage;
  try {
    bytes = def.responseSerialize(value);
  } catch (cause) {
    responder.finish({ code: INTERNAL, details: `Error serializing response: ${String(cause)}` });
    return;
  }
  // A message over the send limit has ended the call already; then finish does nothing.
  responder.send(bytes);
  responder.finish(OK);
}

/** The single request message of a unary or server-streaming call. */
function readOneMessage(stream: ServerHttp2Stream, parser: MessageParser, done: (err: unknown, bytes?: Buffer) => void): void {
  let message: Buffer | undefined;
  let failed = false;
  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    done(err);
  };
  stream.on('data', (chunk: Buffer) => {
    if (failed) return;
    try {
      for (const m of parser.push(chunk)) {
        if (message !== undefined) return fail(new NcacheError('UNIMPLEMENTED', 'received a second request message for a unary request'));
        message = m;
      }
    } catch (err) {
      fail(err);
    }
  });
  stream.once('end', () => {
    if (failed) return;
    if (message === undefined || parser.midMessage) fail(new NcacheError('UNIMPLEMENTED', 'the request ended without a whole message'));
    else done(undefined, message);
  });
}

/**
 * A service's methods as the router takes them: definitions by name and the
 * handlers of the same names. Which handler shape a method has is data (its
 * definition's stream flags), so it is checked here, not by the compiler.
 */
export function registerService(router: GrpcRouter, definition: Record<string, ServedMethodDefinition>, implementation: Record<string, unknown>): void {
  for (const [name, def] of Object.entries(definition)) {
    const handler = implementation[name];
    if (typeof handler !== 'function') continue;
    if (def.requestStream && def.responseStream) throw new Error(`${def.path}: bidirectional streaming is not served`);
    if (def.requestStream) router.add({ kind: 'clientStream', def, handler: handler as ClientStreamHandler });
    else if (def.responseStream) router.add({ kind: 'serverStream', def, handler: handler as ServerStreamHandler });
    else router.add({ kind: 'unary', def, handler: handler as UnaryHandler });
  }
}
