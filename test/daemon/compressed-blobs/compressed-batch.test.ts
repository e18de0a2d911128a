// The compressor fields of BatchUpdateBlobs/BatchReadBlobs and the
// compressors Capabilities advertises, over real gRPC.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';
import { COMPRESSOR_IDENTITY, COMPRESSOR_ZSTD } from '../../../src/proto/reapi.js';
import { MAX_BATCH_TOTAL_SIZE_BYTES } from '../../../src/daemon/limits.js';
import { digestOf, sha256 } from '../../../src/util/digest.js';
import { deterministicBytes, textBlob } from '../../helpers/data.js';
import { grpcError } from '../../helpers/grpc-matchers.js';
import { type Fixture, startFixture } from '../fixture.js';
import { zeroBomb, zstdOf } from './zstd-client.js';

const I = 'main';

describe('zstd in the batch RPCs', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ instanceName: I });
  });
  afterAll(() => f.stop());

  it('advertises zstd for compressed-blobs and for BatchUpdateBlobs', async () => {
    const caps = await f.client.getCapabilities(I);
    expect(caps.cacheCapabilities?.supportedCompressors).toEqual([COMPRESSOR_ZSTD]);
    expect(caps.cacheCapabilities?.supportedBatchUpdateCompressors).toEqual([COMPRESSOR_ZSTD]);
  });

  it('stores zstd entries decompressed and verified, each answered on its own', async () => {
    const text = textBlob(50_000, 1);
    const random = deterministicBytes(30_000, 2);
    const wrongHash = textBlob(20_000, 3);
    const claimed = { hash: sha256(Buffer.from('other')), sizeBytes: wrongHash.length };
    const truncated = await zstdOf(textBlob(40_000, 4));
    const cut = digestOf(textBlob(40_000, 4));
    const bombDigest = digestOf(Buffer.alloc(1000));
    const res = await f.client.batchUpdateBlobs({
      instanceName: I,
      requests: [
        { digest: digestOf(text), data: await zstdOf(text), compressor: COMPRESSOR_ZSTD },
        { digest: digestOf(random), data: await zstdOf(random), compressor: COMPRESSOR_ZSTD },
        { digest: claimed, data: await zstdOf(wrongHash), compressor: COMPRESSOR_ZSTD },
        { digest: cut, data: truncated.subarray(0, truncated.length - 50), compressor: COMPRESSOR_ZSTD },
        { digest: bombDigest, data: await zeroBomb(1), compressor: COMPRESSOR_ZSTD },
        { digest: digestOf(text), data: text, compressor: 3 },
      ],
    });
    expect(res.responses.map((r) => r.status?.code)).toEqual([0, 0, ...Array(4).fill(status.INVALID_ARGUMENT)]);
    const messages = res.responses.map((r) => r.status?.message ?? '');
    expect(messages[2]).toMatch(new RegExp(`requests\\[2\\]: data hashes to ${sha256(wrongHash)}, not to the digest's ${claimed.hash}`));
    expect(messages[3]).toMatch(new RegExp(`requests\\[3\\]: the zstd data of ${cut.hash}/40000 ends in the middle of a zstd frame`));
    expect(messages[4]).toMatch(/requests\[4\]: the zstd data of .*\/1000 decompresses to more than the declared 1000 bytes/);
    expect(messages[5]).toMatch(/requests\[5\]\.compressor: compressor BROTLI is not supported for .* \(supported: IDENTITY, ZSTD\)/);

    const missing = await f.client.findMissingBlobs({ instanceName: I, blobDigests: [digestOf(text), digestOf(random), claimed, cut, bombDigest] });
    expect(missing.missingBlobDigests).toEqual([claimed, cut, bombDigest]);
    const back = await f.client.batchReadBlobs({ instanceName: I, digests: [digestOf(text), digestOf(random)] });
    expect(back.responses.map((r) => r.compressor)).toEqual([COMPRESSOR_IDENTITY, COMPRESSOR_IDENTITY]);
    expect(back.responses[0]!.data.equals(text)).toBe(true);
    expect(back.responses[1]!.data.equals(random)).toBe(true);
  });

  it('counts compressed entries at their uncompressed size against the batch limit', async () => {
    // Two entries of a few KiB on the wire that declare more than the limit together.
    const half = MAX_BATCH_TOTAL_SIZE_BYTES / 2 + 1;
    const a = Buffer.alloc(half, 'a');
    const b = Buffer.alloc(half, 'b');
    await expect(
      f.client.batchUpdateBlobs({
        instanceName: I,
        requests: [
          { digest: digestOf(a), data: await zstdOf(a), compressor: COMPRESSOR_ZSTD },
          { digest: digestOf(b), data: await zstdOf(b), compressor: COMPRESSOR_ZSTD },
        ],
      }),
    ).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, new RegExp(`carries ${2 * half} bytes in 2 blobs, over the limit`)));
    // Alone, each fits.
    const one = await f.client.batchUpdateBlobs({
      instanceName: I,
      requests: [{ digest: digestOf(a), data: await zstdOf(a), compressor: COMPRESSOR_ZSTD }],
    });
    expect(one.responses[0]!.status?.code).toBe(0);
  });

  it('answers BatchReadBlobs in zstd when the client accepts it and it is smaller', async () => {
    const text = textBlob(200_000, 5);
    const random = deterministicBytes(100_000, 6);
    const tiny = Buffer.from('tiny');
    for (const blob of [text, random, tiny]) await f.client.uploadBlob(blob, I);
    const digests = [digestOf(text), digestOf(random), digestOf(tiny), digestOf(Buffer.alloc(0))];
    const res = await f.client.batchReadBlobs({ instanceName: I, digests, acceptableCompressors: [COMPRESSOR_ZSTD] });
    expect(res.responses.map((r) => [r.status?.code, r.compressor])).toEqual([
      [0, COMPRESSOR_ZSTD],
      [0, COMPRESSOR_IDENTITY],
      [0, COMPRESSOR_IDENTITY],
      [0, COMPRESSOR_IDENTITY],
    ]);
    const zstdText = res.responses[0]!.data;
    expect(zstdText.length).toBeLessThan(text.length / 4);
    expect(decompress(zstdText).equals(text)).toBe(true);
    expect(res.responses[1]!.data.equals(random)).toBe(true);
    expect(res.responses[2]!.data.equals(tiny)).toBe(true);
    // Without acceptable_compressors everything is plain.
    const plain = await f.client.batchReadBlobs({ instanceName: I, digests });
    expect(plain.responses.map((r) => r.compressor)).toEqual([0, 0, 0, 0]);
    expect(plain.responses[0]!.data.equals(text)).toBe(true);
  });
});
