// ByteStream WriteRequest decoded from the pieces its message arrived in
// (grpc-server/frames.ts), without joining them: a 64 KiB upload message
// usually spans two or more socket chunks, and joining them meant a fresh
// buffer and a copy of every uploaded byte. The data field is taken as views
// of the pieces; when it spans several, the message is handed on as several
// WriteRequests, one per piece, with offsets that follow on and finish_write
// on the last only. REAPI lets a client cut an upload anywhere, so the
// handler treats them as the client's own messages.
import type { WriteRequest } from '../proto/reapi.js';

// WriteRequest's fields (google/bytestream/bytestream.proto).
const RESOURCE_NAME = 1;
const WRITE_OFFSET = 2;
const FINISH_WRITE = 3;
const DATA = 10;

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** A read position across the pieces of one message. */
class PieceCursor {
  private piece = 0;
  private offset = 0;

  constructor(private readonly pieces: readonly Buffer[]) {
    this.skipEmpty();
  }

  get atEnd(): boolean {
    return this.piece >= this.pieces.length;
  }

  byte(): number {
    if (this.atEnd) throw new Error('the message ends inside a field');
    const b = this.pieces[this.piece]![this.offset++]!;
    this.skipEmpty();
    return b;
  }

  /** A varint as a number; 64-bit values beyond 2^53 lose precision, as protobufjs's Number conversion does. */
  varint(): number {
    // Up to seven bytes (49 bits) add up exactly in a double: every tag and
    // length, and any real offset. Only longer ones (a negative int64 takes
    // ten) go through BigInt, which costs an allocation per byte.
    let value = 0;
    for (let i = 0; i < 7; i++) {
      const b = this.byte();
      value += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return value;
    }
    let wide = BigInt(value);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      const b = this.byte();
      wide |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return Number(BigInt.asIntN(64, wide));
    }
    throw new Error('a varint longer than 10 bytes');
  }

  /** The next `n` bytes as views of the pieces they lie in. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      if (this.atEnd) throw new Error(`a field of ${n} bytes runs past the end of the message`);
      const piece = this.pieces[this.piece]!;
      const step = Math.min(left, piece.length - this.offset);
      out.push(piece.subarray(this.offset, this.offset + step));
      this.offset += step;
      left -= step;
      this.skipEmpty();
    }
    return out;
  }

  private skipEmpty(): void {
    while (this.piece < this.pieces.length && this.offset >= this.pieces[this.piece]!.length) {
      this.piece += 1;
      this.offset = 0;
    }
  }
}

/**
 * One WriteRequest message, given as pieces, as the WriteRequests the
 * handler sees: one, or one per piece its data lies in. Throws on a
 * malformed message (the listener answers it as a bad request).
 */
export function decodeWritePieces(pieces: readonly Buffer[]): WriteRequest[] {
  const cursor = new PieceCursor(pieces);
  let resourceName = '';
  let writeOffset = 0;
  let finishWrite = false;
  let data: Buffer[] = [];
  while (!cursor.atEnd) {
    const tag = cursor.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === RESOURCE_NAME && wireType === LENGTH_DELIMITED) {
      const bytes = cursor.take(cursor.varint());
      resourceName = (bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes)).toString('utf8');
    } else if (field === WRITE_OFFSET && wireType === VARINT) {
      writeOffset = cursor.varint();
    } else if (field === FINISH_WRITE && wireType === VARINT) {
      finishWrite = cursor.varint() !== 0;
    } else if (field === DATA && wireType === LENGTH_DELIMITED) {
      // A field that appears twice keeps its last value, as in any protobuf decoder.
      data = cursor.take(cursor.varint());
    } else {
      skipField(cursor, field, wireType);
    }
  }
  if (data.length <= 1) return [{ resourceName, writeOffset, finishWrite, data: data[0] ?? Buffer.alloc(0) }];
  const out: WriteRequest[] = [];
  let offset = writeOffset;
  for (let i = 0; i < data.length; i++) {
    const last = i === data.length - 1;
    out.push({ resourceName: i === 0 ? resourceName : '', writeOffset: offset, finishWrite: last && finishWrite, data: data[i]! });
    offset += data[i]!.length;
  }
  return out;
}

/** Steps over a field WriteRequest does not have (a newer client's), by its wire type. */
function skipField(cursor: PieceCursor, field: number, wireType: number): void {
  if (wireType === VARINT) cursor.varint();
  else if (wireType === FIXED64) cursor.take(8);
  else if (wireType === LENGTH_DELIMITED) cursor.take(cursor.varint());
  else if (wireType === FIXED32) cursor.take(4);
  else throw new Error(`field ${field} has wire type ${wireType}, which a WriteRequest cannot contain`);
}
