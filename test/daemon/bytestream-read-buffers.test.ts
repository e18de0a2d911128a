// ByteStream Read from a filesystem store reads files into a pool of buffers
// it reuses once HTTP/2 has sent them (src/daemon/read-buffers.ts). Reused too
// early, a buffer would carry another blob's bytes to a client: many reads
// of distinct blobs at once, some ranged and some abandoned mid-way, must
// each get exactly their own bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadResponse } from '../../src/proto/reapi.js';
import type { Digest } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';
import { blobName } from '../helpers/grpc-client.js';
import { type Fixture, startFixture } from './fixture.js';

let f: Fixture;
const blobs: { data: Buffer; digest: Digest }[] = [];

beforeAll(async () => {
  f = await startFixture({ storeKind: 'filesystem' });
  // Every size class: one message, a buffer's worth of messages, several buffers, the thread-pool path.
  const sizes = [1, 1000, 65_536, 65_537, 300_000, 1_048_576, 3 * 1_048_576 + 7, 5 * 1_048_576];
  for (const [i, size] of sizes.entries()) {
    const data = deterministicBytes(size, 100 + i);
    blobs.push({ data, digest: await f.client.uploadBlob(data) });
  }
});

afterAll(() => f.stop());

/** Reads one message of the blob, then cancels the call. */
async function abandon(digest: Digest): Promise<void> {
  const stream = f.client.readStream(blobName('', digest));
  await new Promise<void>((resolve) => {
    stream.once('data', () => {
      stream.cancel();
      resolve();
    });
    stream.once('error', () => resolve());
    stream.once('end', () => resolve());
  });
}

describe('ByteStream Read with reused buffers', () => {
  it('gives every one of many concurrent reads exactly its own bytes, whole or ranged, with others abandoned', async () => {
    for (let round = 0; round < 3; round++) {
      const reads: Promise<void>[] = [];
      blobs.forEach(({ data, digest }, i) => {
        for (let k = 0; k < 3; k++) {
          const offset = k === 0 ? 0 : Math.floor((data.length * k) / 7);
          const limit = k === 2 ? Math.max(1, Math.floor(data.length / 3)) : 0;
          reads.push(
            f.client.read(blobName('', digest), { offset, limit }).then((got) => {
              const want = data.subarray(offset, limit === 0 ? data.length : offset + limit);
              expect(got.length, `blob ${i} read ${k}`).toBe(want.length);
              expect(got.equals(want), `blob ${i} read ${k}: bytes differ`).toBe(true);
            }),
          );
        }
        if (data.length > 65_536) reads.push(abandon(digest));
      });
      await Promise.all(reads);
    }
  });

  it('cuts a read into messages of max_bytes_per_stream at most, in order', async () => {
    const { data, digest } = blobs[6]!;
    const parts: Buffer[] = [];
    for await (const msg of f.client.readStream(blobName('', digest)) as AsyncIterable<ReadResponse>) {
      expect(msg.data.length).toBeLessThanOrEqual(64 * 1024);
      parts.push(msg.data);
    }
    expect(parts.length).toBe(Math.ceil(data.length / (64 * 1024)));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });
});
