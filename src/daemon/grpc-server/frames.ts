// gRPC's message framing over HTTP/2 DATA: each message is a 1-byte
// compressed flag, a 4-byte big-endian length, then the message. DATA frames
// cut messages anywhere, so the parser gathers bytes across chunks. A message
// comes out as the pieces it arrived in (views of the chunks, no copy), which
// push() joins for decoders that need one buffer; ByteStream Write decodes
// the pieces as they are (src/daemon/write-pieces.ts).
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

  /** The whole messages `chunk` completes, in order, each as one buffer (a view when it arrived in one chunk). */
  push(chunk: Buffer): Buffer[] {
    return this.pushPieces(chunk).map(joinPieces);
  }

  /** The whole messages `chunk` completes, in order, each as the pieces of chunks it arrived in. */
  pushPieces(chunk: Buffer): Buffer[][] {
    const out: Buffer[][] = [];
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
        if (this.wanted === 0) out.push(this.finish([]));
        continue;
      }
      const need = this.wanted - this.pendingBytes;
      if (rest.length < need) {
        this.keep(rest);
        break;
      }
      const tail = rest.subarray(0, need);
      out.push(this.finish(this.pendingBytes === 0 ? [tail] : [...this.pending, tail]));
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

  private finish(message: Buffer[]): Buffer[] {
    this.pending = [];
    this.pendingBytes = 0;
    this.wanted = -1;
    return message;
  }
}

/** A message's pieces as one buffer: the piece itself when there is one, else a copy. */
export function joinPieces(pieces: readonly Buffer[]): Buffer {
  if (pieces.length === 1) return pieces[0]!;
  return pieces.length === 0 ? Buffer.alloc(0) : Buffer.concat(pieces);
}
