// gRPC's message framing over HTTP/2 DATA: each message is a 1-byte
// compressed flag, a 4-byte big-endian length, then the message. DATA frames
// cut messages anywhere, so the parser gathers bytes across chunks; a message
// inside one chunk is handed on as a view of it, without a copy.
import { NcacheError } from '../../util/errors.js';

export const FRAME_HEADER_BYTES = 5;

/**
 * A serialized message: one buffer, or pieces sent back to back. Pieces let a
 * ByteStream Read response name the store's file chunks as they are, so its
 * payload is never copied just to put a few bytes of header in front.
 */
export type SerializedMessage = Buffer | readonly Buffer[];

/** Bytes in a serialized message. */
export function messageLength(message: SerializedMessage): number {
  if (!Array.isArray(message)) return (message as Buffer).length;
  let total = 0;
  for (const piece of message as readonly Buffer[]) total += piece.length;
  return total;
}

/** The 5-byte prefix of an uncompressed message of `length` bytes. */
export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header[0] = 0;
  header.writeUInt32BE(length, 1);
  return header;
}

/** Splits a request body into messages; throws an NcacheError (a gRPC status) on a bad or oversized one. */
export class MessageParser {
  /** Bytes received but not yet a whole message. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current message's length once its prefix is read; -1 before. */
  private wanted = -1;

  constructor(private readonly maxMessageBytes: number) {}

  /** True while part of a message has arrived without its end. */
  get midMessage(): boolean {
    return this.pendingBytes > 0 || this.wanted >= 0;
  }

  /** The whole messages `chunk` completes, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let rest = chunk;
    while (rest.length > 0) {
      if (this.wanted < 0) {
        const need = FRAME_HEADER_BYTES - this.pendingBytes;
        if (rest.length < need) {
          this.keep(rest);
          break;
        }
        const header = this.pendingBytes === 0 ? rest : Buffer.concat([...this.pending, rest.subarray(0, need)]);
        this.startMessage(header);
        rest = rest.subarray(need);
        this.pending = [];
        this.pendingBytes = 0;
        if (this.wanted === 0) out.push(this.finish(Buffer.alloc(0)));
        continue;
      }
      const need = this.wanted - this.pendingBytes;
      if (rest.length < need) {
        this.keep(rest);
        break;
      }
      const tail = rest.subarray(0, need);
      out.push(this.finish(this.pendingBytes === 0 ? tail : Buffer.concat([...this.pending, tail], this.wanted)));
      rest = rest.subarray(need);
    }
    return out;
  }

  private keep(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  private startMessage(header: Buffer): void {
    const flag = header[0];
    const length = header.readUInt32BE(1);
    if (flag !== 0) {
      // No grpc-encoding is accepted (none is advertised), so a compressed message cannot be read.
      const what = flag === 1 ? 'a compressed message, but this server accepts no grpc-encoding' : `a message with compressed flag ${flag}`;
      throw new NcacheError(flag === 1 ? 'UNIMPLEMENTED' : 'INTERNAL', `the client sent ${what}`);
    }
    if (length > this.maxMessageBytes) {
      throw new NcacheError(
        'RESOURCE_EXHAUSTED',
        `Received message larger than max (${length} vs. ${this.maxMessageBytes}) (listener max_decoding_message_size)`,
      );
    }
    this.wanted = length;
  }

  private finish(message: Buffer): Buffer {
    this.pending = [];
    this.pendingBytes = 0;
    this.wanted = -1;
    return message;
  }
}
