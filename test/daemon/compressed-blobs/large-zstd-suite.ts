// A large, highly compressible blob through compressed-blobs/zstd both ways,
// streamed on both sides: zeros, so a few KiB of zstd stand for the whole
// blob and every step of the server is what could hold it. The short form
// runs in compressed-bytestream.test.ts; the full one (GiBs) in
// test/stress/zstd.stress.test.ts.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoundedZstdDecoder } from '../../../src/daemon/compressed-blobs/zstd-codec.js';
import type { ReadResponse } from '../../../src/proto/reapi.js';
import type { Digest } from '../../../src/util/digest.js';
import { compressedBlobName } from '../../helpers/grpc-client.js';
import { type Fixture, startFixture } from '../fixture.js';
import { zeroBomb } from './zstd-client.js';

const MiB = 1024 * 1024;

/** The digest of `mebibytes` MiB of zeros, hashed a MiB at a time. */
function zerosDigest(mebibytes: number): Digest {
  const hash = createHash('sha256');
  const mib = Buffer.alloc(MiB);
  for (let i = 0; i < mebibytes; i++) hash.update(mib);
  return { hash: hash.digest('hex'), sizeBytes: mebibytes * MiB };
}

/**
 * Reads a compressed-blobs name, decoding and hashing as it streams. The
 * decoder is the server's lazy one: zstd-napi's DecompressStream would expand
 * a whole message of zeros at once, holding the client's memory, not the server's.
 */
async function readHashed(f: Fixture, name: string, size: number): Promise<{ hash: string; wire: number }> {
  const hash = createHash('sha256');
  const decoder = new BoundedZstdDecoder(size, name);
  let wire = 0;
  for await (const msg of f.client.readStream(name) as AsyncIterable<ReadResponse>) {
    wire += msg.data.length;
    for (const piece of decoder.decode(msg.data)) hash.update(piece);
  }
  expect({ produced: decoder.produced, atFrameEnd: decoder.atFrameEnd }).toEqual({ produced: size, atFrameEnd: true });
  return { hash: hash.digest('hex'), wire };
}

export interface LargeZstdOptions {
  readonly mebibytes: number;
  /** Largest RSS growth of this process (client and in-process daemon) allowed over the round trip. */
  readonly rssLimitMiB: number;
}

export function defineLargeZstdSuite(opts: LargeZstdOptions): void {
  describe(`a ${opts.mebibytes} MiB compressible blob through compressed-blobs/zstd`, () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await startFixture({ storeKind: 'filesystem' });
    });
    afterAll(() => f.stop());

    it('is decoded a buffer at a time on upload and encoded a piece at a time on read', async () => {
      const frame = await zeroBomb(opts.mebibytes);
      const d = zerosDigest(opts.mebibytes);
      const rssBefore = process.memoryUsage().rss;
      expect((await f.client.writeCompressed(d, frame)).committedSize).toBe(frame.length);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(opts.rssLimitMiB * MiB);
      const back = await readHashed(f, compressedBlobName('', d), d.sizeBytes);
      expect(back.hash).toBe(d.hash);
      expect(back.wire).toBeLessThan(d.sizeBytes / 100);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(opts.rssLimitMiB * MiB);
    });
  });
}
