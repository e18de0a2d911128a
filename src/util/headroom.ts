// Buffers allocated with spare bytes in front of them. A store reading a
// value from disk allocates its chunks this way; the ByteStream encoder then
// writes the few bytes of protobuf framing into that space and hands the
// chunk on without copying it, and the gRPC listener writes it to HTTP/2 as
// it is (src/daemon/grpc-server/). A buffer that was not made here, or was
// sliced since, simply does not qualify and is copied once.

/** Spare bytes in front: a protobuf tag and a varint length of any size fit. */
export const HEADROOM_BYTES = 16;

const withHeadroom = new WeakSet<Buffer>();

/** `size` bytes (uninitialized, not from the shared pool) with HEADROOM_BYTES free in front. */
export function allocWithHeadroom(size: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(HEADROOM_BYTES + size).subarray(HEADROOM_BYTES);
  withHeadroom.add(buf);
  return buf;
}

/**
 * `header` followed by `payload` as one buffer, written into the payload's
 * headroom; undefined when the payload has none (then copy). Once only: the
 * headroom then holds this header.
 */
export function prependInPlace(header: Uint8Array, payload: Buffer): Buffer | undefined {
  if (header.length > HEADROOM_BYTES || !withHeadroom.delete(payload)) return undefined;
  const start = payload.byteOffset - header.length;
  const out = Buffer.from(payload.buffer, start, header.length + payload.length);
  out.set(header, 0);
  return out;
}
