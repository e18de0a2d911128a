// ByteStream compressed-blobs/zstd over real gRPC: round trips, ranged reads,
// verification after decompression, truncated frames, bombs, resumes.
import { status } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';
import { type Digest, EMPTY_DIGEST, digestOf, sha256 } from '../../../src/util/digest.js';
import { deterministicBytes, textBlob } from '../../helpers/data.js';
import { blobName, compressedBlobName, compressedUploadName, uploadName } from '../../helpers/grpc-client.js';
import { grpcError } from '../../helpers/grpc-matchers.js';
import { waitFor } from '../../helpers/wait-for.js';
import { type Fixture, startFixture } from '../fixture.js';
import { defineLargeZstdSuite } from './large-zstd-suite.js';
import { readDecompressed, zeroBomb, zstdOf, zstdPieces } from './zstd-client.js';

const MiB = 1024 * 1024;

const blobs = {
  'small text': () => textBlob(20_000, 1),
  'small random': () => deterministicBytes(20_000, 2),
  'multi-MiB text': () => textBlob(6 * MiB + 11, 3),
  'multi-MiB random': () => deterministicBytes(5 * MiB + 7, 4),
};

for (const storeKind of ['memory', 'filesystem'] as const) {
  describe(`zstd ByteStream round trips (${storeKind} store)`, () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await startFixture({ storeKind, instanceName: 'main' });
    });
    afterAll(() => f.stop());

    for (const [label, make] of Object.entries(blobs)) {
      it(`${label}: a compressed upload reads back compressed and plain`, async () => {
        const data = make();
        const d = digestOf(data);
        let sent = 0;
        async function* counted(): AsyncGenerator<Buffer> {
          for await (const p of zstdPieces(data)) {
            sent += p.length;
            yield p;
          }
        }
        const res = await f.client.writeCompressed(d, counted(), 'main', { chunkSize: 256 * 1024 });
        // A completed compressed Write answers its last write offset: the compressed bytes sent.
        expect(res.committedSize).toBe(sent);
        expect((await f.client.read(blobName('main', d))).equals(data)).toBe(true);

        const got = await readDecompressed(f.client, compressedBlobName('main', d));
        expect(got.data.equals(data)).toBe(true);
        if (label.includes('text')) expect(got.compressedBytes).toBeLessThan(data.length / 4);
        else expect(got.compressedBytes).toBeLessThan(data.length + 1024);
        // Streamed: a multi-MiB blob comes in many messages of at most max_bytes_per_stream.
        if (data.length > MiB) expect(got.messages).toBeGreaterThan(1);
      });
    }

    it('takes a stream whose last message is empty, as Bazel may send, for a blob of whole 128 KiB blocks', async () => {
      const data = textBlob(MiB, 16);
      const d = digestOf(data);
      const frame = await zstdOf(data);
      const h = f.client.openWrite();
      await h.send({ resourceName: compressedUploadName('main', d), writeOffset: 0, data: frame });
      await h.send({ writeOffset: frame.length, data: Buffer.alloc(0), finishWrite: true });
      h.end();
      expect((await h.response).committedSize).toBe(frame.length);
      expect((await f.client.read(blobName('main', d))).equals(data)).toBe(true);
    });

    it('serves a plain upload compressed, and the empty blob as an empty frame', async () => {
      const data = textBlob(300_000, 5);
      const d = await f.client.uploadBlob(data, 'main');
      const compressed = await f.client.read(compressedBlobName('main', d));
      expect(decompress(compressed).equals(data)).toBe(true);
      const empty = await f.client.read(compressedBlobName('main', EMPTY_DIGEST));
      expect(empty.length).toBeGreaterThan(0);
      expect(decompress(empty).length).toBe(0);
    });
  });
}

describe('zstd ByteStream reads', () => {
  let f: Fixture;
  let data: Buffer;
  let d: Digest;
  beforeAll(async () => {
    f = await startFixture({ storeKind: 'filesystem' });
    data = textBlob(2 * MiB + 333, 6);
    d = await f.client.uploadBlob(data);
  });
  afterAll(() => f.stop());

  it('starts at read_offset counted in uncompressed bytes', async () => {
    for (const offset of [1, 1000, MiB + 17, data.length - 1, data.length]) {
      const got = await readDecompressed(f.client, compressedBlobName('', d), offset);
      expect(got.data.equals(data.subarray(offset)), `offset ${offset}`).toBe(true);
    }
  });

  it('refuses read_limit, an offset past the end and a missing blob', async () => {
    const name = compressedBlobName('', d);
    await expect(f.client.read(name, { limit: 10 })).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /read_limit must be 0/));
    await expect(f.client.read(name, { offset: data.length + 1 })).rejects.toEqual(
      grpcError(status.OUT_OF_RANGE, /read_offset .* past the end/),
    );
    const missing = digestOf(Buffer.from('never stored'));
    await expect(f.client.read(compressedBlobName('', missing))).rejects.toEqual(grpcError(status.NOT_FOUND, /not found/));
  });

  it('names an unsupported compressor', async () => {
    await expect(f.client.read(compressedBlobName('', d, 'deflate'))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /compressor "deflate" is not supported by this server \(supported: zstd, identity\)/),
    );
    await expect(f.client.write(compressedUploadName('', d, randomUUID(), 'brotli'), Buffer.from('x'))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /compressor "brotli" is not supported/),
    );
  });
});

describe('zstd ByteStream writes that must fail', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ storeKind: 'filesystem', resumeTimeoutSeconds: 60 });
  });
  afterAll(() => f.stop());

  const isMissing = async (d: Digest) => (await f.client.findMissingBlobs({ blobDigests: [d] })).missingBlobDigests.length === 1;

  /** Once the server has let go of the upload `name`: whether its blob ended up stored (a store commits asynchronously). */
  async function outcome(name: string): Promise<'stored' | 'missing'> {
    let result: 'stored' | 'missing' | undefined;
    await waitFor(
      async () => {
        result = await f.client.queryWriteStatus(name).then(
          (st) => (st.complete ? 'stored' : undefined),
          (e: { code?: number }) => (e.code === status.NOT_FOUND ? 'missing' : undefined),
        );
        return result !== undefined;
      },
      { what: `the server to let go of ${name}`, intervalMs: 10 },
    );
    return result!;
  }

  it('rejects bytes that decompress to another hash, and stores nothing', async () => {
    const data = textBlob(400_000, 7);
    const claimed = { hash: sha256(Buffer.from('something else')), sizeBytes: data.length };
    await expect(f.client.writeCompressed(claimed, await zstdOf(data))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, new RegExp(`hash to ${sha256(data)}, not to ${claimed.hash}/${data.length}; nothing was stored`)),
    );
    expect(await isMissing(claimed)).toBe(true);
  });

  it('rejects a declared size the data does not decompress to', async () => {
    const data = deterministicBytes(100_000, 8);
    const longer = { hash: sha256(data), sizeBytes: data.length + 1 };
    await expect(f.client.writeCompressed(longer, await zstdOf(data))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, new RegExp(`decompresses to 100000 bytes, not 100001; nothing was stored`)),
    );
    const shorter = { hash: sha256(data), sizeBytes: data.length - 1 };
    await expect(f.client.writeCompressed(shorter, await zstdOf(data))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /decompresses to more than the declared 99999 bytes/),
    );
    expect(await isMissing(longer)).toBe(true);
    expect(await isMissing(shorter)).toBe(true);
  });

  it('rejects a truncated frame, even one cut only in its checksum', async () => {
    const data = textBlob(700_000, 9);
    const d = digestOf(data);
    const frame = await zstdOf(data);
    await expect(f.client.writeCompressed(d, frame.subarray(0, frame.length - 100))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, new RegExp(`middle of a zstd frame for ${d.hash}/${d.sizeBytes} \\(truncated`)),
    );
    expect(await isMissing(d)).toBe(true);
    // Every byte of the blob decodes, only the 4-byte checksum is missing: still nothing stored.
    const checked = await zstdOf(data, { checksumFlag: true });
    const name = compressedUploadName('', d);
    await expect(f.client.write(name, checked.subarray(0, checked.length - 2))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /truncated after 700000 of 700000/),
    );
    expect(await outcome(name)).toBe('missing');
    // The same cut stream half-closed without finish_write: not complete, resumable from what was held.
    const again = compressedUploadName('', d);
    const partial = await f.client.write(again, checked.subarray(0, checked.length - 2), { finish: false });
    expect(partial.committedSize).toBeLessThan(data.length);
    const st = await f.client.queryWriteStatus(again);
    expect(st).toEqual({ committedSize: partial.committedSize, complete: false });
    expect(await isMissing(d)).toBe(true);
    const rest = await zstdOf(data.subarray(st.committedSize));
    expect((await f.client.write(again, rest, { offset: st.committedSize })).committedSize).toBe(st.committedSize + rest.length);
    expect((await f.client.downloadBlob(d)).equals(data)).toBe(true);
  });

  it('rejects bytes that are not zstd', async () => {
    const data = textBlob(1000, 10);
    const d = digestOf(data);
    await expect(f.client.writeCompressed(d, data)).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, new RegExp(`the zstd data of ${d.hash}/1000 is not valid zstd`)),
    );
    expect(await isMissing(d)).toBe(true);
  });

  it('stops a decompression bomb at the declared size, without the memory it would take', async () => {
    const bomb = await zeroBomb(1024);
    expect(bomb.length).toBeLessThan(256 * 1024);
    const declared = digestOf(Buffer.alloc(MiB));
    const rssBefore = process.memoryUsage().rss;
    await expect(f.client.writeCompressed(declared, bomb)).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /decompresses to more than the declared 1048576 bytes; nothing was stored/),
    );
    // Decoding 1 GiB would need far more; the decoder stopped after 1 MiB and one buffer.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * MiB);
    expect(await isMissing(declared)).toBe(true);
  });

  it('refuses a write_offset that is not the first offset plus the compressed bytes sent', async () => {
    const data = deterministicBytes(300_000, 11);
    const d = digestOf(data);
    const frame = await zstdOf(data);
    const h = f.client.openWrite();
    await h.send({ resourceName: compressedUploadName('', d), writeOffset: 0, data: frame.subarray(0, 1000) });
    await h.send({ writeOffset: 2000, data: frame.subarray(1000), finishWrite: true });
    h.end();
    await expect(h.response).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /write_offset 2000 .* expected 1000/));
    expect(await isMissing(d)).toBe(true);
  });
});

describe('zstd ByteStream early completion and resume', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ storeKind: 'filesystem', resumeTimeoutSeconds: 60 });
  });
  afterAll(() => f.stop());

  it('answers -1 when the blob is already stored, and for the empty blob', async () => {
    const data = textBlob(500_000, 12);
    const d = await f.client.uploadBlob(data);
    expect((await f.client.writeCompressed(d, await zstdOf(data))).committedSize).toBe(-1);
    expect((await f.client.writeCompressed(EMPTY_DIGEST, await zstdOf(Buffer.alloc(0)))).committedSize).toBe(-1);
  });

  it('resumes a disconnected upload from the uncompressed offset QueryWriteStatus reports', async () => {
    const data = deterministicBytes(4 * MiB + 5, 13);
    const d = digestOf(data);
    const name = compressedUploadName('', d);
    const frame = await zstdOf(data);
    const h = f.client.openWrite();
    for (let off = 0; off < 2 * MiB; off += 256 * 1024) {
      await h.send({ resourceName: off === 0 ? name : '', writeOffset: off, data: frame.subarray(off, off + 256 * 1024) });
    }
    await waitFor(async () => ((await f.client.queryWriteStatus(name).catch(() => undefined))?.committedSize ?? 0) > 0, {
      what: 'the server to hold decoded bytes',
      intervalMs: 0,
    });
    h.cancel();
    await expect(h.response).rejects.toEqual(grpcError(status.CANCELLED));
    expect((await f.client.findMissingBlobs({ blobDigests: [d] })).missingBlobDigests).toHaveLength(1);

    const st = await f.client.queryWriteStatus(name);
    expect(st.complete).toBe(false);
    expect(st.committedSize).toBeGreaterThan(0);
    expect(st.committedSize).toBeLessThan(data.length);
    // The rest goes as a new zstd stream whose first write_offset is the uncompressed offset.
    const rest = await zstdOf(data.subarray(st.committedSize));
    const res = await f.client.write(name, rest, { offset: st.committedSize, chunkSize: 300_000 });
    expect(res.committedSize).toBe(st.committedSize + rest.length);
    expect((await f.client.downloadBlob(d)).equals(data)).toBe(true);
    expect(await f.client.queryWriteStatus(name)).toEqual({ committedSize: data.length, complete: true });
  });

  it('keeps a compressed upload that half-closes mid-blob resumable', async () => {
    const data = textBlob(800_000, 14);
    const d = digestOf(data);
    const name = compressedUploadName('', d);
    const head = await zstdOf(data.subarray(0, 300_000));
    const first = await f.client.write(name, head, { finish: false });
    expect(first.committedSize).toBe(300_000);
    expect((await f.client.queryWriteStatus(name)).committedSize).toBe(300_000);
    const tail = await zstdOf(data.subarray(300_000));
    expect((await f.client.write(name, tail, { offset: 300_000 })).committedSize).toBe(300_000 + tail.length);
    expect((await f.client.downloadBlob(d)).equals(data)).toBe(true);
    // A plain upload of other bytes is untouched by all this.
    const plain = textBlob(1000, 15);
    expect((await f.client.write(uploadName('', digestOf(plain)), plain)).committedSize).toBe(1000);
  });
});

// 128 MiB of zeros is one ~4 KiB message; decoding it whole before storing would hold 128 MiB.
defineLargeZstdSuite({ mebibytes: 128, rssLimitMiB: 96 });
