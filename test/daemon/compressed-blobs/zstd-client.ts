// Client-side zstd for the compressed-blobs tests, made with zstd-napi's own
// Transform streams (an encoder independent of the server's), streaming so
// multi-MiB blobs never need to be compressed whole.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CompressStream, DecompressStream, type CompressParameters } from 'zstd-napi';
import type { ReapiClient } from '../../helpers/grpc-client.js';
import type { ReadResponse } from '../../../src/proto/reapi.js';

/** `data` zstd-compressed as a stream of pieces. */
export function zstdPieces(data: Buffer | AsyncIterable<Buffer>, params: CompressParameters = {}): AsyncIterable<Buffer> {
  return Readable.from(Buffer.isBuffer(data) ? [data] : data).pipe(new CompressStream(params));
}

/** Whole-buffer compression through the same stream encoder. */
export async function zstdOf(data: Buffer, params: CompressParameters = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of zstdPieces(data, params)) parts.push(p);
  return Buffer.concat(parts);
}

/** Reads a compressed-blobs name: the decompressed bytes, the compressed byte count and the message count. */
export async function readDecompressed(
  client: ReapiClient,
  name: string,
  offset = 0,
): Promise<{ data: Buffer; compressedBytes: number; messages: number }> {
  let compressedBytes = 0;
  let messages = 0;
  const out: Buffer[] = [];
  async function* wire(): AsyncGenerator<Buffer> {
    for await (const msg of client.readStream(name, { offset }) as AsyncIterable<ReadResponse>) {
      compressedBytes += msg.data.length;
      messages++;
      yield msg.data;
    }
  }
  await pipeline(Readable.from(wire()), new DecompressStream(), async (s: AsyncIterable<Buffer>) => {
    for await (const c of s) out.push(c);
  });
  return { data: Buffer.concat(out), compressedBytes, messages };
}

/** `count` MiB of zeros as one zstd frame (about 30 KiB per GiB): a decompression bomb. */
export async function zeroBomb(mebibytes: number): Promise<Buffer> {
  const mib = Buffer.alloc(1024 * 1024);
  async function* zeros(): AsyncGenerator<Buffer> {
    for (let i = 0; i < mebibytes; i++) yield mib;
  }
  const parts: Buffer[] = [];
  for await (const p of zstdPieces(zeros(), { compressionLevel: 1 })) parts.push(p);
  return Buffer.concat(parts);
}
