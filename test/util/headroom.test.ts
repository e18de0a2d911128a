import { describe, expect, it } from 'vitest';
import { ReadResponseCodec } from '../../src/proto/reapi.js';
import { encodeReadResponse } from '../../src/daemon/bytestream-server.js';
import { HEADROOM_BYTES, allocWithHeadroom, prependInPlace } from '../../src/util/headroom.js';

describe('buffers with headroom', () => {
  it('take a header in front without copying the payload, once', () => {
    const payload = allocWithHeadroom(5);
    payload.set([1, 2, 3, 4, 5]);
    const framed = prependInPlace(Uint8Array.of(0xaa, 0xbb), payload)!;
    expect([...framed]).toEqual([0xaa, 0xbb, 1, 2, 3, 4, 5]);
    expect(framed.buffer).toBe(payload.buffer);
    // The headroom now holds that header: a second use must copy instead.
    expect(prependInPlace(Uint8Array.of(0xcc), payload)).toBeUndefined();
  });

  it('refuse buffers not made with headroom, slices of them, and headers longer than the room', () => {
    expect(prependInPlace(Uint8Array.of(1), Buffer.from('plain'))).toBeUndefined();
    expect(prependInPlace(Uint8Array.of(1), allocWithHeadroom(10).subarray(2))).toBeUndefined();
    expect(prependInPlace(new Uint8Array(HEADROOM_BYTES + 1), allocWithHeadroom(10))).toBeUndefined();
  });

  it('give the same ReadResponse encoding in place as by copying', () => {
    for (const size of [1, 127, 128, 16_384, 300_000]) {
      const data = Buffer.alloc(size, size % 251);
      const roomy = allocWithHeadroom(size);
      data.copy(roomy);
      const copied = Buffer.from(encodeReadResponse({ data }));
      const inPlace = encodeReadResponse({ data: roomy });
      expect(inPlace.buffer).toBe(roomy.buffer);
      expect(inPlace.equals(copied)).toBe(true);
      expect(ReadResponseCodec.decode(inPlace).data.equals(data)).toBe(true);
    }
  });
});
