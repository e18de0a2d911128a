// zstd for REAPI's compressed-blobs: a streaming encoder (one frame per
// blob, bounded memory whatever the blob's size) and a lazy decoder that
// refuses to produce more bytes than the digest declares, so a small frame
// that inflates to gigabytes (a decompression bomb) costs one output buffer.
// Both drive zstd-napi's native contexts directly: its Transform streams
// cannot be told to stop at an output limit.
import binding from 'zstd-napi/binding.js';
import { invalidArgument } from '../../util/errors.js';

/**
 * Level for what the server compresses (ByteStream reads, BatchReadBlobs).
 * REAPI lets the server pick any level; 1 keeps reads fast on one laptop
 * core (docs/benchmarks.md "zstd" has level 1 against the default 3).
 */
export const ZSTD_SERVER_LEVEL = 1;

/**
 * Largest window (log2 bytes) a client's frame may ask the decoder for: 16 MiB,
 * so one upload's decoder state stays bounded. Levels 1-19 use at most 8 MiB;
 * only --ultra levels or long-distance matching go past this and are refused.
 */
export const ZSTD_WINDOW_LOG_MAX = 24;

/** Output is gathered up to about this much before it is handed on. */
const OUTPUT_BYTES = binding.cStreamOutSize();
const DECODE_BYTES = binding.dStreamOutSize();
const NO_INPUT = Buffer.alloc(0);

function newCompressor(level: number, pledgedSize: number | undefined): binding.CCtx {
  const cctx = new binding.CCtx();
  cctx.setParameter(binding.CParameter.compressionLevel, level);
  // The content size in the frame header lets a client size its buffer.
  if (pledgedSize !== undefined) cctx.setPledgedSrcSize(pledgedSize);
  return cctx;
}

/**
 * Compresses `source` into one zstd frame as it streams. `pledgedSize`, when
 * known, must be the exact number of bytes `source` yields.
 */
export async function* zstdCompressStream(
  source: AsyncIterable<Buffer>,
  pledgedSize?: number,
  level = ZSTD_SERVER_LEVEL,
): AsyncGenerator<Buffer> {
  const cctx = newCompressor(level, pledgedSize);
  let out = Buffer.allocUnsafe(OUTPUT_BYTES);
  let filled = 0;
  for await (const chunk of source) {
    let rest = chunk;
    while (rest.length > 0) {
      const [, produced, consumed] = cctx.compressStream2(out.subarray(filled), rest, binding.EndDirective.continue);
      filled += produced;
      rest = rest.subarray(consumed);
      if (filled === out.length) {
        yield out;
        out = Buffer.allocUnsafe(OUTPUT_BYTES);
        filled = 0;
      }
    }
  }
  for (;;) {
    const [remaining, produced] = cctx.compressStream2(out.subarray(filled), NO_INPUT, binding.EndDirective.end);
    filled += produced;
    if (remaining === 0) break;
    if (filled === out.length) {
      yield out;
      out = Buffer.allocUnsafe(OUTPUT_BYTES);
      filled = 0;
    }
  }
  if (filled > 0) yield out.subarray(0, filled);
}

/** One buffer compressed into one frame (batch responses: small blobs). */
export function zstdCompressBuffer(data: Buffer, level = ZSTD_SERVER_LEVEL): Buffer {
  const cctx = newCompressor(level, data.length);
  const out = Buffer.allocUnsafe(binding.compressBound(data.length));
  return out.subarray(0, cctx.compress2(out, data));
}

/**
 * A streaming zstd decoder with an output budget: `decode` yields what its
 * input decodes to one buffer at a time (so a consumer that waits between
 * buffers holds one, however much a message inflates to) and fails as soon
 * as the output would pass `limit` bytes.
 */
export class BoundedZstdDecoder {
  private readonly dctx = new binding.DCtx();
  /** Bytes produced so far. */
  produced = 0;
  /** The last decode call that moved bytes ended exactly at the end of a frame. */
  private frameDone = false;
  private sawInput = false;

  constructor(
    /** Most bytes the whole stream may decode to. */
    private readonly limit: number,
    /** What the bytes are, for messages: "the zstd data of blob {hash}/{size}". */
    private readonly what: string,
  ) {
    this.dctx.setParameter(binding.DParameter.windowLogMax, ZSTD_WINDOW_LOG_MAX);
  }

  /** True when the input so far is whole frames (nothing cut off mid-frame). */
  get atFrameEnd(): boolean {
    return this.frameDone || !this.sawInput;
  }

  /** Decodes `input` lazily: each buffer is decoded when the consumer asks for it. */
  *decode(input: Buffer): Generator<Buffer> {
    let rest = input;
    if (rest.length > 0) this.sawInput = true;
    for (;;) {
      // One byte more than the budget allows: producing it proves the stream too long.
      const room = Math.min(DECODE_BYTES, this.limit - this.produced + 1);
      const out = Buffer.allocUnsafe(room);
      const [hint, produced, consumed] = this.decodeInto(out, rest);
      rest = rest.subarray(consumed);
      this.produced += produced;
      if (this.produced > this.limit) {
        throw invalidArgument(`${this.what} decompresses to more than the declared ${this.limit} bytes; nothing was stored`);
      }
      // A call that moved nothing says nothing about this frame: after a frame's
      // end zstd already answers with the next frame's header size.
      if (consumed > 0 || produced > 0) this.frameDone = hint === 0;
      if (produced > 0) yield produced < room / 2 ? Buffer.from(out.subarray(0, produced)) : out.subarray(0, produced);
      // A full output buffer may mean more is waiting inside the decoder, unless the frame is flushed.
      if (rest.length === 0 && (produced < room || hint === 0)) return;
    }
  }

  private decodeInto(out: Buffer, input: Buffer): [number, number, number] {
    try {
      return this.dctx.decompressStream(out, input);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw invalidArgument(`${this.what} is not valid zstd (${why}); nothing was stored`);
    }
  }
}

/** Decodes a whole zstd buffer of at most `limit` output bytes; a cut-off frame is an error. */
export function zstdDecompressBuffer(data: Buffer, limit: number, what: string): Buffer {
  const decoder = new BoundedZstdDecoder(limit, what);
  const parts = [...decoder.decode(data)];
  if (!decoder.atFrameEnd) throw invalidArgument(`${what} ends in the middle of a zstd frame (truncated); nothing was stored`);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, decoder.produced);
}
