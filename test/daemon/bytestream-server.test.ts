import { status } from '@grpc/grpc-js';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_DIGEST, digestOf } from '../../src/util/digest.js';
import { blobName, uploadName } from '../helpers/grpc-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { type Fixture, startFixture } from './fixture.js';
import { grpcError } from '../helpers/grpc-matchers.js';

/** committed_size of an upload, or -1 while the server knows nothing of it yet. */
async function committed(f: Fixture, name: string): Promise<number> {
  return f.client.queryWriteStatus(name).then(
    (r) => r.committedSize,
    (e: { code?: number }) => {
      if (e.code === status.NOT_FOUND) return -1;
      throw e;
    },
  );
}

for (const storeKind of ['memory', 'filesystem'] as const) {
  describe(`ByteStream round trips (${storeKind} store)`, () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await startFixture({ storeKind });
    });
    afterAll(() => f.stop());

    it('writes a blob in chunks and reads it back whole, by range and to the end', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const d = digestOf(data);
      const res = await f.client.write(uploadName('', d), data, { chunkSize: 100_000 });
      expect(res.committedSize).toBe(data.length);
      expect((await f.client.findMissingBlobs({ blobDigests: [d] })).missingBlobDigests).toEqual([]);
      expect((await f.client.read(blobName('', d))).equals(data)).toBe(true);
      expect((await f.client.read(blobName('', d), { offset: 1000, limit: 5000 })).equals(data.subarray(1000, 6000))).toBe(true);
      expect((await f.client.read(blobName('', d), { offset: data.length - 10 })).equals(data.subarray(-10))).toBe(true);
      expect((await f.client.read(blobName('', d), { offset: data.length })).length).toBe(0);
    });

    it('sends Read responses no bigger than max_bytes_per_stream', async () => {
      const data = randomBytes(1024 * 1024);
      const d = await f.client.uploadBlob(data);
      const { bytes, messages } = await f.client.readCount(blobName('', d));
      expect(bytes).toBe(data.length);
      expect(messages).toBe(16); // 64 KiB per message
    });
  });
}

describe('ByteStream Read errors', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ instanceName: 'main' });
  });
  afterAll(() => f.stop());

  it('answers NOT_FOUND for a missing blob and OUT_OF_RANGE past the end', async () => {
    const d = digestOf(Buffer.from('not stored'));
    await expect(f.client.read(blobName('main', d))).rejects.toEqual(grpcError(status.NOT_FOUND, /not found/));
    const stored = await f.client.uploadBlob(Buffer.from('0123456789'), 'main');
    await expect(f.client.read(blobName('main', stored), { offset: 11 })).rejects.toEqual(
      grpcError(status.OUT_OF_RANGE, /read_offset 11 is past the end/),
    );
    await expect(f.client.read(blobName('main', stored), { offset: -1 })).rejects.toEqual(grpcError(status.OUT_OF_RANGE));
    await expect(f.client.read(blobName('main', stored), { limit: -1 })).rejects.toEqual(grpcError(status.INVALID_ARGUMENT));
  });

  it('serves the empty blob without it being stored', async () => {
    expect((await f.client.read(blobName('main', EMPTY_DIGEST))).length).toBe(0);
  });

  it('rejects malformed resource names, naming them', async () => {
    const hash = 'a'.repeat(64);
    const bad = [
      'main/blobs',
      `main/blobs/${hash}`,
      `main/blobs/${'A'.repeat(64)}/5`,
      `main/blobs/${'g'.repeat(64)}/5`,
      `main/blobs/${hash.slice(1)}/5`,
      `main/blobs/${hash}/-5`,
      `main/blobs/${hash}/99999999999999999`,
      `main/blobs/${hash}/5/extra`,
      `main/../blobs/${hash}/5`,
      `main/compressed-blobs/deflate/${hash}/5`,
      `main/compressed-blobs/lzma/${hash}/5`,
      `/main/blobs/${hash}/5`,
      '',
    ];
    for (const name of bad) {
      const err = await f.client.read(name).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toEqual(grpcError(status.INVALID_ARGUMENT, /resource name/));
      if (name !== '') expect((err as { details: string }).details).toContain(JSON.stringify(name).slice(0, 40));
    }
  });

  it('rejects an unknown instance name, naming it', async () => {
    const d = digestOf(Buffer.from('x'));
    await expect(f.client.read(blobName('other', d))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /unknown instance name "other".*"main"/),
    );
  });

  it('reads compressed-blobs/identity like plain blobs', async () => {
    const data = Buffer.from('identity compressed');
    const d = await f.client.uploadBlob(data, 'main');
    const got = await f.client.read(`main/compressed-blobs/identity/${d.hash}/${d.sizeBytes}`);
    expect(got.equals(data)).toBe(true);
  });
});

describe('ByteStream Write', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ storeKind: 'filesystem', resumeTimeoutSeconds: 60 });
  });
  afterAll(() => f.stop());

  const isMissing = async (d: { hash: string; sizeBytes: number }) =>
    (await f.client.findMissingBlobs({ blobDigests: [d] })).missingBlobDigests.length === 1;

  it('rejects bytes that do not hash to the digest and stores nothing', async () => {
    const data = randomBytes(200_000);
    const claimed = digestOf(randomBytes(200_000));
    await expect(f.client.write(uploadName('', claimed), data, { chunkSize: 64 * 1024 })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /hash to .*nothing was stored/),
    );
    expect(await isMissing(claimed)).toBe(true);
    await expect(f.client.read(blobName('', claimed))).rejects.toEqual(grpcError(status.NOT_FOUND));
  });

  it('rejects too many bytes and a finish_write short of the size', async () => {
    const data = randomBytes(1000);
    const d = digestOf(data);
    const longer = Buffer.concat([data, Buffer.from('x')]);
    await expect(f.client.write(uploadName('', d), longer)).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /more than its 1000/));
    await expect(f.client.write(uploadName('', d), data.subarray(0, 999))).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /finish_write after 999 bytes/),
    );
    expect(await isMissing(d)).toBe(true);
  });

  it('rejects a write_offset that skips bytes', async () => {
    const data = randomBytes(1000);
    const d = digestOf(data);
    const h = f.client.openWrite();
    const name = uploadName('', d);
    await h.send({ resourceName: name, writeOffset: 0, data: data.subarray(0, 500) });
    await h.send({ writeOffset: 600, data: data.subarray(500), finishWrite: true });
    h.end();
    await expect(h.response).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /write_offset 600, but 500 bytes/));
    expect(await isMissing(d)).toBe(true);
  });

  it('rejects malformed upload names', async () => {
    const hash = 'b'.repeat(64);
    for (const name of [
      `blobs/${hash}/3`,
      `uploads/blobs/${hash}/3`,
      `uploads/${randomUUID()}/blobs/${hash}/abc`,
      `uploads/${randomUUID()}/blobs/../${hash}/3`,
      `uploads/${randomUUID()}/compressed-blobs/brotli/${hash}/3`,
      `uploads/${randomUUID()}/things/${hash}/3`,
    ]) {
      await expect(f.client.write(name, Buffer.from('abc')), name).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /bad write resource name/),
      );
    }
  });

  it('completes at once when the blob already exists, and for the empty blob', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const d = await f.client.uploadBlob(data);
    // A second upload is answered with the full size after its first message.
    const h = f.client.openWrite();
    await h.send({ resourceName: uploadName('', d), writeOffset: 0, data: data.subarray(0, 1024) });
    expect((await h.response).committedSize).toBe(data.length);
    expect(await h.send({ writeOffset: 1024, data: data.subarray(1024, 2048) })).toBe(false);
    h.cancel();
    expect((await f.client.write(uploadName('', EMPTY_DIGEST), Buffer.alloc(0))).committedSize).toBe(0);
    // compressed-blobs uploads report an early completion as -1.
    const compressed = `uploads/${randomUUID()}/compressed-blobs/identity/${d.hash}/${d.sizeBytes}`;
    expect((await f.client.write(compressed, data)).committedSize).toBe(-1);
  });

  it('uploads through compressed-blobs/identity and trailing metadata', async () => {
    const data = randomBytes(70_000);
    const d = digestOf(data);
    const name = `uploads/${randomUUID()}/compressed-blobs/identity/${d.hash}/${d.sizeBytes}/some/metadata`;
    expect((await f.client.write(name, data, { chunkSize: 16 * 1024 })).committedSize).toBe(data.length);
    expect((await f.client.downloadBlob(d)).equals(data)).toBe(true);
  });

  it('keeps a disconnected upload resumable: nothing committed, QueryWriteStatus, resume, complete', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 3);
    const d = digestOf(data);
    const name = uploadName('', d);
    const h = f.client.openWrite();
    const half = 2 * 1024 * 1024;
    for (let off = 0; off < half; off += 256 * 1024) {
      await h.send({ resourceName: off === 0 ? name : '', writeOffset: off, data: data.subarray(off, off + 256 * 1024) });
    }
    // The server has seen (some of) the bytes: wait until QueryWriteStatus shows progress.
    await waitFor(async () => (await committed(f, name)) > 0, { what: 'the server to receive data', intervalMs: 0 });
    h.cancel();
    await expect(h.response).rejects.toEqual(grpcError(status.CANCELLED));

    // Nothing is readable while the upload is incomplete.
    expect(await isMissing(d)).toBe(true);
    const st = await f.client.queryWriteStatus(name);
    expect(st.complete).toBe(false);
    expect(st.committedSize).toBeGreaterThan(0);
    expect(st.committedSize).toBeLessThanOrEqual(half);

    // A resume from a wrong offset is refused, naming the committed size.
    await expect(f.client.write(name, data.subarray(st.committedSize + 1), { offset: st.committedSize + 1 })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, new RegExp(`committed size ${st.committedSize}`)),
    );

    const res = await f.client.write(name, data.subarray(st.committedSize), { offset: st.committedSize, chunkSize: 300_000 });
    expect(res.committedSize).toBe(data.length);
    expect((await f.client.downloadBlob(d)).equals(data)).toBe(true);
    expect(await f.client.queryWriteStatus(name)).toEqual({ committedSize: data.length, complete: true });
    expect(f.daemon.stores.names()).toContain('CAS');
  });

  it('reports progress when a client half-closes without finish_write, and resumes', async () => {
    const data = randomBytes(300_000);
    const d = digestOf(data);
    const name = uploadName('', d);
    const first = await f.client.write(name, data.subarray(0, 100_000), { finish: false, chunkSize: 50_000 });
    expect(first.committedSize).toBe(100_000);
    expect(await isMissing(d)).toBe(true);
    const rest = await f.client.write(name, data.subarray(100_000), { offset: 100_000 });
    expect(rest.committedSize).toBe(data.length);
    expect(await isMissing(d)).toBe(false);
  });

  it('a newer Write of the same upload takes over from a stalled one', async () => {
    const data = randomBytes(600_000);
    const d = digestOf(data);
    const name = uploadName('', d);
    const stalled = f.client.openWrite();
    await stalled.send({ resourceName: name, writeOffset: 0, data: data.subarray(0, 200_000) });
    await waitFor(async () => (await committed(f, name)) === 200_000, { what: 'the first bytes', intervalMs: 0 });
    const res = await f.client.write(name, data.subarray(200_000), { offset: 200_000 });
    expect(res.committedSize).toBe(data.length);
    await expect(stalled.response).rejects.toEqual(grpcError(status.ABORTED, /took over/));
    expect((await f.client.downloadBlob(d)).equals(data)).toBe(true);
  });

  it('answers QueryWriteStatus NOT_FOUND for an unknown upload', async () => {
    const d = digestOf(Buffer.from('never uploaded'));
    await expect(f.client.queryWriteStatus(uploadName('', d))).rejects.toEqual(grpcError(status.NOT_FOUND, /no upload in progress/));
  });

  it('rejects a first write_offset > 0 with nothing held', async () => {
    const data = randomBytes(100);
    const d = digestOf(data);
    await expect(f.client.write(uploadName('', d), data.subarray(10), { offset: 10 })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /start again from offset 0/),
    );
  });
});

describe('ByteStream abandoned uploads', () => {
  it('drops a disconnected upload once persist_stream_on_disconnect_timeout passes (0: at once)', async () => {
    const f = await startFixture({ storeKind: 'filesystem', resumeTimeoutSeconds: 0 });
    try {
      const data = randomBytes(1024 * 1024);
      const d = digestOf(data);
      const name = uploadName('', d);
      const h = f.client.openWrite();
      await h.send({ resourceName: name, writeOffset: 0, data: data.subarray(0, 512 * 1024) });
      await waitFor(async () => (await committed(f, name)) > 0, { what: 'the server to receive data', intervalMs: 0 });
      h.cancel();
      await waitFor(async () => (await committed(f, name)) === -1, { what: 'the upload to be dropped', intervalMs: 0 });
      expect((await f.client.findMissingBlobs({ blobDigests: [d] })).missingBlobDigests).toHaveLength(1);
      // The store let go of its partial temp file.
      await waitFor(async () => (await readdir(join(f.dir, 'cas', 'tmp'))).length === 0, { what: 'the temp file to be removed', intervalMs: 0 });
      // A fresh upload from 0 works.
      expect((await f.client.write(name, data)).committedSize).toBe(data.length);
    } finally {
      await f.stop();
    }
  });
});

describe('ByteStream over a verify store', () => {
  it('leaves hash checking to the verify store, which still rejects a bad upload', async () => {
    const f = await startFixture({
      storeKind: 'filesystem',
      edit: (config) => {
        const cas = config.stores[0]!;
        cas.spec = { kind: 'verify', verify_size: true, verify_hash: true, backend: cas.spec };
      },
    });
    try {
      const data = randomBytes(300_000);
      const claimed = { hash: digestOf(randomBytes(10)).hash, sizeBytes: data.length };
      await expect(f.client.write(uploadName('', claimed), data)).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /hash to/),
      );
      expect((await f.client.findMissingBlobs({ blobDigests: [claimed] })).missingBlobDigests).toEqual([claimed]);
      const good = await f.client.uploadBlob(data);
      expect((await f.client.downloadBlob(good)).equals(data)).toBe(true);
    } finally {
      await f.stop();
    }
  });
});

describe('ByteStream zero-size digests', () => {
  it('refuses a 0-byte upload under a hash other than the empty one, and reads it as NOT_FOUND', async () => {
    const f = await startFixture({ storeKind: 'filesystem' });
    try {
      const bogus = { hash: 'c'.repeat(64), sizeBytes: 0 };
      await expect(f.client.write(uploadName('', bogus), Buffer.alloc(0))).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /0-byte blob always has the empty SHA-256/),
      );
      expect((await f.client.findMissingBlobs({ blobDigests: [bogus] })).missingBlobDigests).toEqual([bogus]);
      await expect(f.client.read(blobName('', bogus))).rejects.toEqual(grpcError(status.NOT_FOUND));
      // Reading exactly at the end of a stored blob is an empty answer, of a missing one NOT_FOUND.
      const d = await f.client.uploadBlob(Buffer.from('abc'));
      expect((await f.client.read(blobName('', d), { offset: 3 })).length).toBe(0);
      await expect(f.client.read(blobName('', digestOf(Buffer.from('abd'))), { offset: 3 })).rejects.toEqual(
        grpcError(status.NOT_FOUND),
      );
    } finally {
      await f.stop();
    }
  });
});
