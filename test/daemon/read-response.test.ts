// ByteStream Read's response encoder: the field header as a piece of its own,
// then the store's chunks as they are, so no payload byte is copied.
import { describe, expect, it } from 'vitest';
import { encodeReadResponse } from '../../src/daemon/bytestream-server.js';
import { ReadResponseCodec } from '../../src/proto/reapi.js';
import { deterministicBytes } from '../helpers/data.js';

describe('encodeReadResponse', () => {
  it('decodes to the data for lengths on each side of a varint byte, from one chunk or several', () => {
    for (const size of [1, 127, 128, 16_383, 16_384, 300_000, 2_097_152]) {
      const data = deterministicBytes(size, size % 97);
      const split = [data.subarray(0, Math.floor(size / 3)), data.subarray(Math.floor(size / 3))];
      for (const pieces of [encodeReadResponse({ data }), encodeReadResponse({ data: split })]) {
        expect(ReadResponseCodec.decode(Buffer.concat(pieces)).data.equals(data)).toBe(true);
        expect(Buffer.concat(pieces).equals(ReadResponseCodec.encode({ data }))).toBe(true);
      }
    }
  });

  it('hands the chunks on as the same objects (no copy), after one small header', () => {
    const a = deterministicBytes(70_000, 1);
    const b = deterministicBytes(5, 2);
    const pieces = encodeReadResponse({ data: [a, b] });
    expect(pieces.length).toBe(3);
    expect(pieces[1]).toBe(a);
    expect(pieces[2]).toBe(b);
    expect(pieces[0]!.length).toBe(4); // tag + a 3-byte varint for 70,005
  });

  it('encodes no data as an empty message', () => {
    expect(encodeReadResponse({ data: Buffer.alloc(0) })).toEqual([]);
    expect(ReadResponseCodec.decode(Buffer.alloc(0)).data.length).toBe(0);
  });
});
