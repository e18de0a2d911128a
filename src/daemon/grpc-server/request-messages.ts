// The request side of a client-streaming call: messages parsed from DATA
// as they arrive, queued up to a few, the HTTP/2 stream paused beyond that
// so flow control makes the client wait for a slow consumer. A wire message
// may decode to several values (ByteStream Write, write-pieces.ts); the
// read-ahead counts wire messages.
import type { ServerHttp2Stream } from 'node:http2';
import { NcacheError } from '../../util/errors.js';
import type { MessageParser } from './frames.js';
import { type CallStatus, statusOf } from './status.js';

const INTERNAL = 13;

interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(err: unknown): void;
}

export class RequestMessages<T> implements AsyncIterator<T> {
  /** Decoded values, one batch per wire message, consumed from the front. */
  private readonly queue: T[][] = [];
  private ended = false;
  private failure: unknown;
  private waiter: Waiter<T> | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly parser: MessageParser,
    /** One wire message, as the pieces it arrived in, to the values it stands for. */
    private readonly decode: (pieces: Buffer[]) => T[],
    private readonly readAhead: number,
    /** Ends the call with this status: a message that cannot be read is answered by the server, as for unary calls. */
    private readonly refuse: (status: CallStatus) => void,
  ) {
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    stream.once('end', () => {
      if (this.parser.midMessage) {
        const details = 'the request stream ended inside a message';
        this.refuse({ code: INTERNAL, details });
        this.fail(new NcacheError('CANCELLED', details));
      }
      this.ended = true;
      this.wake();
    });
  }

  /** The call ended (cancelled, or answered): waiting consumers get `err`, and no more messages are kept. */
  fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.queue.length = 0;
    this.stream.resume();
    this.wake();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const value = this.take();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private receive(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    try {
      for (const pieces of this.parser.pushPieces(chunk)) {
        const values = this.decode(pieces);
        if (values.length > 0) this.queue.push(values);
      }
    } catch (err) {
      const status = err instanceof NcacheError ? statusOf(err) : { code: INTERNAL, details: `Error deserializing request: ${String(err)}` };
      this.refuse(status);
      this.fail(new NcacheError('CANCELLED', status.details));
      return;
    }
    if (this.queue.length >= this.readAhead) this.stream.pause();
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    if (this.failure !== undefined) {
      this.waiter = undefined;
      waiter.reject(this.failure);
      return;
    }
    const value = this.take();
    if (value !== undefined) {
      this.waiter = undefined;
      waiter.resolve({ value, done: false });
    } else if (this.ended) {
      this.waiter = undefined;
      waiter.resolve({ value: undefined, done: true });
    }
  }

  /** The next value, if one is queued; resumes the stream once a wire message's values are all taken. */
  private take(): T | undefined {
    const batch = this.queue[0];
    if (batch === undefined) return undefined;
    const value = batch.shift();
    if (batch.length === 0) {
      this.queue.shift();
      if (this.queue.length < this.readAhead && this.stream.isPaused()) this.stream.resume();
    }
    return value;
  }
}
