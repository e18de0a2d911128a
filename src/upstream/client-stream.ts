// A client-streaming call (ByteStream.Write) driven message by message with
// flow control: send() resolves once grpc-js will take more (or false once the
// upstream has answered, which may come before the last message: early
// completion). The caller ends or cancels; `response` settles with the
// upstream's answer or its mapped error.
import type { ClientWritableStream } from '@grpc/grpc-js';
import type { MessageInit } from '../proto/reapi.js';

export interface ClientStreamCall<Req, Res> {
  /** The endpoint this call went to. */
  readonly address: string;
  /** Settles with the upstream's answer; rejects with an NcacheError naming the upstream. */
  readonly response: Promise<Res>;
  /** Whether `response` has settled. */
  readonly settled: boolean;
  /** Sends one message, waiting while grpc-js's buffer is full; false if the call already ended. */
  send(message: MessageInit<Req>): Promise<boolean>;
  /** Half-closes: no more messages. */
  end(): void;
  /** Abandons the call (the upstream sees CANCELLED). */
  cancel(): void;
}

export class FlowControlledCall<Req, Res> implements ClientStreamCall<Req, Res> {
  private done = false;
  private readonly ended: Promise<void>;

  constructor(
    private readonly call: ClientWritableStream<MessageInit<Req>>,
    readonly response: Promise<Res>,
    readonly address: string,
  ) {
    this.ended = response.then(
      () => {
        this.done = true;
      },
      () => {
        this.done = true;
      },
    );
  }

  get settled(): boolean {
    return this.done;
  }

  async send(message: MessageInit<Req>): Promise<boolean> {
    if (this.done) return false;
    if (this.call.write(message)) return true;
    let onDrain: (() => void) | undefined;
    const drained = new Promise<void>((resolve) => {
      onDrain = resolve;
      this.call.once('drain', resolve);
    });
    await Promise.race([drained, this.ended]);
    if (onDrain) this.call.off('drain', onDrain);
    return !this.done;
  }

  end(): void {
    if (!this.done) this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }
}
