// ByteStream WriteRequest decoded from the pieces its message arrived in:
// the same fields as the protobuf codec reads, the data as views of the
// pieces, split into WriteRequests whose offsets follow on.
import { describe, expect, it } from 'vitest';
import { decodeWritePieces } from '../../src/daemon/write-pieces.js';
import { type WriteRequest, WriteRequestCodec } from '../../src/proto/reapi.js';
import { deterministicBytes } from '../helpers/data.js';

/** `bytes` cut at `cuts` (ascending positions). */
function cutAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(from, c));
    from = c;
  }
  return pieces;
}

/** The decoded requests, checked to read as one: names, offsets and finish_write where they belong. */
function joined(requests: WriteRequest[], original: WriteRequest): Buffer {
  let offset = original.writeOffset;
  requests.forEach((r, i) => {
    expect(r.resourceName).toBe(i === 0 ? original.resourceName : '');
    expect(r.writeOffset).toBe(offset);
    expect(r.finishWrite).toBe(i === requests.length - 1 ? original.finishWrite : false);
    offset += r.data.length;
  });
  return Buffer.concat(requests.map((r) => r.data));
}

describe('decodeWritePieces', () => {
  const original: WriteRequest = {
    resourceName: 'main/uploads/0b4c-é/blobs/' + 'ab'.repeat(32) + '/70000',
    writeOffset: 1_234_567_890_123,
    finishWrite: true,
    data: deterministicBytes(70_000, 5),
  };
  const wire = WriteRequestCodec.encode(original);

  it('reads what the codec wrote, cut anywhere: at every byte of the header, and in many pieces', () => {
    for (let cut = 0; cut <= 120; cut++) {
      const requests = decodeWritePieces(cutAt(wire, [cut]));
      expect(joined(requests, original).equals(original.data)).toBe(true);
    }
    const many = cutAt(wire, [1, 2, 50, 90, 91, 16_000, 16_001, 40_000, 69_999]);
    const requests = decodeWritePieces(many);
    expect(requests.length).toBeGreaterThan(3);
    expect(joined(requests, original).equals(original.data)).toBe(true);
  });

  it('hands the data on as views of the pieces, never a copy', () => {
    for (const r of decodeWritePieces(cutAt(wire, [100, 30_000]))) expect(r.data.buffer).toBe(wire.buffer);
  });

  it('gives one request for data in one piece, and defaults for an empty message', () => {
    expect(decodeWritePieces([wire])).toHaveLength(1);
    expect(decodeWritePieces([])).toEqual([{ resourceName: '', writeOffset: 0, finishWrite: false, data: Buffer.alloc(0) }]);
    const finishOnly = WriteRequestCodec.encode({ resourceName: '', writeOffset: 7, finishWrite: true, data: Buffer.alloc(0) });
    expect(decodeWritePieces(cutAt(finishOnly, [1]))).toEqual([{ resourceName: '', writeOffset: 7, finishWrite: true, data: Buffer.alloc(0) }]);
  });

  it('reads a negative write_offset as negative, so the handler can refuse it', () => {
    const negative = WriteRequestCodec.encode({ ...original, writeOffset: -5, data: Buffer.from('x') });
    expect(decodeWritePieces(cutAt(negative, [3]))[0]!.writeOffset).toBe(-5);
  });

  it('reads offsets on each side of seven varint bytes exactly, as the codec does', () => {
    for (const writeOffset of [2 ** 49 - 1, 2 ** 49, 2 ** 53 - 1]) {
      const wire = WriteRequestCodec.encode({ ...original, writeOffset, data: Buffer.from('x') });
      expect(decodeWritePieces(cutAt(wire, [5]))[0]!.writeOffset).toBe(WriteRequestCodec.decode(wire).writeOffset);
      expect(decodeWritePieces([wire])[0]!.writeOffset).toBe(writeOffset);
    }
  });

  it('steps over fields a newer client might add, of every wire type', () => {
    const unknown = Buffer.from([
      (15 << 3) | 0, 0x96, 0x01, // varint
      (16 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
      (17 << 3) | 5, 1, 2, 3, 4, // fixed32
      (18 << 3) | 2, 3, 9, 9, 9, // length-delimited
    ]);
    const withExtras = Buffer.concat([unknown, wire, unknown]);
    const requests = decodeWritePieces(cutAt(withExtras, [2, 12, 30_000, withExtras.length - 3]));
    expect(joined(requests, original).equals(original.data)).toBe(true);
  });

  it('keeps the last value of a field sent twice, as protobuf does', () => {
    const twice = Buffer.concat([WriteRequestCodec.encode({ ...original, data: Buffer.from('old') }), WriteRequestCodec.encode({ ...original, data: Buffer.from('new') })]);
    expect(Buffer.concat(decodeWritePieces(cutAt(twice, [10])).map((r) => r.data)).toString()).toBe('new');
  });

  it('refuses a field that runs past the end, and a wire type a WriteRequest cannot have', () => {
    expect(() => decodeWritePieces(cutAt(wire.subarray(0, wire.length - 1), [40]))).toThrow(/runs past the end/);
    expect(() => decodeWritePieces([Buffer.from([(5 << 3) | 3])])).toThrow(/wire type 3/);
    expect(() => decodeWritePieces([Buffer.from([(2 << 3) | 0, 0x80])])).toThrow(/ends inside a field/);
  });
});
