import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { CompressStream, compress, decompress } from 'zstd-napi';
import {
  BoundedZstdDecoder,
  zstdCompressBuffer,
  zstdCompressStream,
  zstdDecompressBuffer,
} from '../../../src/daemon/compressed-blobs/zstd-codec.js';
import { deterministicBytes, textBlob } from '../../helpers/data.js';

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts);
}

/** zstd of `data` made by zstd-napi's own stream (an independent encoder), with the given parameters. */
async function streamCompressed(data: Buffer, params: ConstructorParameters<typeof CompressStream>[0]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces(data, 64 * 1024)), new CompressStream(params), async (s: AsyncIterable<Buffer>) => {
    for await (const c of s) out.push(c);
  });
  return Buffer.concat(out);
}

describe('zstdCompressStream', () => {
  it('makes one frame that any zstd decoder reads back, for text and random bytes across chunk boundaries', async () => {
    for (const data of [textBlob(3 * 1024 * 1024 + 5, 1), deterministicBytes(1024 * 1024 + 3, 2), Buffer.alloc(0)]) {
      const compressed = await collect(zstdCompressStream(pieces(data, 100_000), data.length));
      expect(decompress(compressed).equals(data)).toBe(true);
      // One frame: the decoder ends exactly at its end.
      const decoder = new BoundedZstdDecoder(data.length, 'test');
      expect(Buffer.concat([...decoder.decode(compressed)]).equals(data)).toBe(true);
      expect(decoder.atFrameEnd).toBe(true);
    }
    const text = textBlob(1024 * 1024, 3);
    expect((await collect(zstdCompressStream(pieces(text, 65_536)))).length).toBeLessThan(text.length / 4);
  });

  it('yields output while the input streams, not only at the end', async () => {
    const data = deterministicBytes(4 * 1024 * 1024, 4);
    let consumed = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const p of pieces(data, 64 * 1024)) {
        consumed += p.length;
        yield p;
      }
    }
    const it = zstdCompressStream(counted(), data.length)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(consumed).toBeLessThan(data.length);
    await it.return?.(undefined);
  });
});

describe('BoundedZstdDecoder', () => {
  const data = textBlob(500_000, 5);
  const frame = compress(data);

  it('decodes within the budget, fed a byte range at a time', () => {
    const decoder = new BoundedZstdDecoder(data.length, 'test');
    const out: Buffer[] = [];
    for (let off = 0; off < frame.length; off += 777) {
      out.push(...decoder.decode(frame.subarray(off, off + 777)));
      if (off + 777 < frame.length) expect(decoder.atFrameEnd).toBe(false);
    }
    expect(decoder.atFrameEnd).toBe(true);
    expect(decoder.produced).toBe(data.length);
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });

  it('ends the frame when its output fills the last buffer exactly, and stays ended on empty input', () => {
    for (const size of [128 * 1024, 2 * 1024 * 1024]) {
      const exact = textBlob(size, 8);
      const decoder = new BoundedZstdDecoder(size, 'test');
      expect(Buffer.concat([...decoder.decode(compress(exact))]).equals(exact)).toBe(true);
      expect(decoder.atFrameEnd).toBe(true);
      // A Write's last message may carry no data.
      expect([...decoder.decode(Buffer.alloc(0))]).toEqual([]);
      expect(decoder.atFrameEnd).toBe(true);
    }
  });

  it('decodes one buffer per step, so a consumer that stops early stops the decoding', () => {
    const zeros = compress(Buffer.alloc(64 * 1024 * 1024));
    const decoder = new BoundedZstdDecoder(64 * 1024 * 1024, 'test');
    const steps = decoder.decode(zeros);
    expect(steps.next().value).toHaveLength(128 * 1024);
    expect(decoder.produced).toBe(128 * 1024);
    steps.return(undefined);
    expect(decoder.produced).toBe(128 * 1024);
  });

  it('fails as soon as the output passes the limit, naming what it decoded', () => {
    const decoder = new BoundedZstdDecoder(data.length - 1, 'the zstd data of blob X');
    expect(() => [...decoder.decode(frame)]).toThrow(/the zstd data of blob X decompresses to more than the declared 499999 bytes/);
    expect(decoder.produced).toBe(data.length);
  });

  it('accepts concatenated frames and refuses garbage as INVALID_ARGUMENT', () => {
    const two = Buffer.concat([compress(data.subarray(0, 1000)), compress(data.subarray(1000))]);
    expect(zstdDecompressBuffer(two, data.length, 'test').equals(data)).toBe(true);
    expect(() => zstdDecompressBuffer(Buffer.from('not zstd at all, just text'), 100, 'entry 3')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^entry 3 is not valid zstd/) }),
    );
    expect(() => zstdDecompressBuffer(frame.subarray(0, frame.length - 20), data.length, 'entry 4')).toThrow(/entry 4 ends in the middle of a zstd frame/);
  });

  it('refuses a frame that asks for a window over 16 MiB', async () => {
    const wide = await streamCompressed(textBlob(100_000, 6), { windowLog: 25 });
    expect(() => zstdDecompressBuffer(wide, 100_000, 'wide')).toThrow(/wide is not valid zstd \(.*memory/i);
    const narrow = await streamCompressed(textBlob(100_000, 6), { windowLog: 24 });
    expect(zstdDecompressBuffer(narrow, 100_000, 'narrow').length).toBe(100_000);
  });
});

it('zstdCompressBuffer makes a frame zstd-napi decodes', () => {
  const data = textBlob(10_000, 7);
  expect(decompress(zstdCompressBuffer(data)).equals(data)).toBe(true);
  // The empty blob is a real (header-only) frame, not zero bytes.
  const empty = zstdCompressBuffer(Buffer.alloc(0));
  expect(empty.length).toBeGreaterThan(0);
  expect(zstdDecompressBuffer(empty, 0, 'empty').length).toBe(0);
});
