import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_TOTAL_SIZE_BYTES } from '../../src/daemon/limits.js';
import { type Directory, DirectoryCodec, type MessageInit } from '../../src/proto/reapi.js';
import { type Digest, EMPTY_DIGEST, digestOf, sha256 } from '../../src/util/digest.js';
import { type Fixture, startFixture } from './fixture.js';
import { grpcError } from '../helpers/grpc-matchers.js';

describe('ContentAddressableStorage', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ storeKind: 'filesystem', instanceName: 'ci/linux' });
  });
  afterAll(() => f.stop());
  const I = 'ci/linux';

  const put = async (...blobs: Buffer[]): Promise<Digest[]> => {
    const res = await f.client.batchUpdateBlobs({
      instanceName: I,
      requests: blobs.map((data) => ({ digest: digestOf(data), data })),
    });
    for (const r of res.responses) expect(r.status?.code).toBe(0);
    return blobs.map((b) => digestOf(b));
  };

  describe('FindMissingBlobs', () => {
    it('reports exactly the absent digests; the empty blob is never missing', async () => {
      const [a] = await put(Buffer.from('present a'));
      const absent = digestOf(Buffer.from('absent'));
      const res = await f.client.findMissingBlobs({ instanceName: I, blobDigests: [a!, absent, EMPTY_DIGEST] });
      expect(res.missingBlobDigests).toEqual([absent]);
    });

    it('treats a known hash with a different size as missing', async () => {
      const [a] = await put(Buffer.from('sized'));
      const wrong = { hash: a!.hash, sizeBytes: a!.sizeBytes + 1 };
      expect((await f.client.findMissingBlobs({ instanceName: I, blobDigests: [wrong] })).missingBlobDigests).toEqual([wrong]);
    });

    it('checks 10,000 digests in one call', async () => {
      const digests = Array.from({ length: 10_000 }, (_, i) => ({ hash: sha256(`blob ${i}`), sizeBytes: i + 1 }));
      const res = await f.client.findMissingBlobs({ instanceName: I, blobDigests: digests });
      expect(res.missingBlobDigests).toHaveLength(10_000);
    });

    it('rejects a malformed digest, naming its position', async () => {
      await expect(
        f.client.findMissingBlobs({ instanceName: I, blobDigests: [EMPTY_DIGEST, { hash: 'xyz', sizeBytes: 1 }] }),
      ).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /blob_digests\[1\]: hash must be 64/));
      await expect(
        f.client.findMissingBlobs({ instanceName: I, blobDigests: [{ hash: 'a'.repeat(64), sizeBytes: -4 }] }),
      ).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /size_bytes must be an integer/));
    });

    it('rejects digest functions other than SHA-256, and unknown instances', async () => {
      await expect(f.client.findMissingBlobs({ instanceName: I, digestFunction: 5 })).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /digest function 5 is not supported/),
      );
      await expect(f.client.findMissingBlobs({ instanceName: 'nope' })).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /In CasServer.findMissingBlobs: unknown instance name "nope".*"ci\/linux"/),
      );
    });
  });

  describe('BatchUpdateBlobs / BatchReadBlobs', () => {
    it('round-trips blobs with per-blob statuses', async () => {
      const a = randomBytes(1000);
      const b = randomBytes(50_000);
      const [da, db] = await put(a, b, a);
      const missing = digestOf(Buffer.from('missing'));
      const res = await f.client.batchReadBlobs({ instanceName: I, digests: [da!, missing, db!, EMPTY_DIGEST] });
      expect(res.responses.map((r) => r.status?.code)).toEqual([0, status.NOT_FOUND, 0, 0]);
      expect(res.responses[0]!.data.equals(a)).toBe(true);
      expect(res.responses[1]!.digest).toEqual(missing);
      expect(res.responses[1]!.status?.message).toMatch(/not found/);
      expect(res.responses[2]!.data.equals(b)).toBe(true);
      expect(res.responses[3]!.data.length).toBe(0);
    });

    it('rejects blobs whose bytes do not match their digest, storing none of them', async () => {
      const good = Buffer.from('good blob');
      const bad = Buffer.from('bad blob');
      const claimed = { hash: sha256('something else'), sizeBytes: bad.length };
      const shortDigest = { hash: sha256(bad), sizeBytes: bad.length + 5 };
      const res = await f.client.batchUpdateBlobs({
        instanceName: I,
        requests: [
          { digest: digestOf(good), data: good },
          { digest: claimed, data: bad },
          { digest: shortDigest, data: bad },
          { digest: digestOf(bad), data: bad, compressor: 2 },
          { digest: { hash: 'nothex', sizeBytes: 1 }, data: Buffer.from('x') },
        ],
      });
      const codes = res.responses.map((r) => r.status?.code);
      expect(codes).toEqual([0, status.INVALID_ARGUMENT, status.INVALID_ARGUMENT, status.INVALID_ARGUMENT, status.INVALID_ARGUMENT]);
      expect(res.responses[1]!.status?.message).toMatch(/requests\[1\]: data hashes to .* nothing was stored/);
      expect(res.responses[2]!.status?.message).toMatch(/requests\[2\]: data is 8 bytes but the digest says 13/);
      expect(res.responses[3]!.status?.message).toMatch(/requests\[3\]\.compressor: compressor DEFLATE is not supported/);
      expect(res.responses[4]!.status?.message).toMatch(/requests\[4\].digest: hash must be/);
      const missing = await f.client.findMissingBlobs({ instanceName: I, blobDigests: [digestOf(good), claimed, shortDigest, digestOf(bad)] });
      expect(missing.missingBlobDigests).toEqual([claimed, shortDigest, digestOf(bad)]);
    });

    it('rejects batches over the advertised limit as a whole', async () => {
      const big = randomBytes(MAX_BATCH_TOTAL_SIZE_BYTES / 2 + 1);
      const other = randomBytes(MAX_BATCH_TOTAL_SIZE_BYTES / 2 + 1);
      await expect(
        f.client.batchUpdateBlobs({
          instanceName: I,
          requests: [
            { digest: digestOf(big), data: big },
            { digest: digestOf(other), data: other },
          ],
        }),
      ).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /over the limit of 4194304/));
      expect(
        (await f.client.findMissingBlobs({ instanceName: I, blobDigests: [digestOf(big), digestOf(other)] })).missingBlobDigests,
      ).toHaveLength(2);
      await expect(
        f.client.batchReadBlobs({
          instanceName: I,
          digests: [
            { hash: 'a'.repeat(64), sizeBytes: MAX_BATCH_TOTAL_SIZE_BYTES },
            { hash: 'b'.repeat(64), sizeBytes: 1 },
          ],
        }),
      ).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /over the limit/));
    });

    it('accepts a batch of 1,000 blobs of 4 KB', async () => {
      const blobs = Array.from({ length: 1000 }, () => randomBytes(4096));
      const digests = await put(...blobs);
      const res = await f.client.batchReadBlobs({ instanceName: I, digests });
      expect(res.responses.every((r, i) => r.status?.code === 0 && r.data.equals(blobs[i]!))).toBe(true);
    });
  });

  describe('GetTree', () => {
    /** Stores a directory and returns its digest. */
    const putDir = async (dir: MessageInit<Directory>): Promise<Digest> => {
      const bytes = DirectoryCodec.encode(dir);
      if (bytes.length > 0) await put(bytes);
      return digestOf(bytes);
    };

    /** root -> 30 subdirectories, each with one child directory of its own (61 distinct directories). */
    const buildTree = async () => {
      const fileDigest = (await put(Buffer.from('file content')))[0]!;
      const subs: { name: string; digest: Digest }[] = [];
      for (let i = 0; i < 30; i++) {
        const leaf = await putDir({ files: [{ name: `leaf${i}.txt`, digest: fileDigest }] });
        const sub = await putDir({ directories: [{ name: 'leaf', digest: leaf }], files: [{ name: `f${i}`, digest: fileDigest }] });
        subs.push({ name: `d${String(i).padStart(2, '0')}`, digest: sub });
      }
      return putDir({ directories: subs });
    };

    it('returns every directory once, in pages that can be resumed from their tokens', async () => {
      const root = await buildTree();
      const all = await f.client.getTree({ instanceName: I, rootDigest: root });
      const flat = all.flatMap((r) => r.directories);
      expect(flat).toHaveLength(61);
      expect(flat[0]!.directories).toHaveLength(30);
      expect(all.at(-1)!.nextPageToken).toBe('');

      const paged = await f.client.getTree({ instanceName: I, rootDigest: root, pageSize: 10 });
      expect(paged.map((p) => p.directories.length)).toEqual([10, 10, 10, 10, 10, 10, 1]);
      expect(paged.slice(0, -1).every((p) => p.nextPageToken !== '')).toBe(true);
      expect(paged.flatMap((p) => p.directories)).toEqual(flat);

      // Resume from the third page's token, as a client retrying an interrupted stream.
      const resumed = await f.client.getTree({ instanceName: I, rootDigest: root, pageSize: 10, pageToken: paged[2]!.nextPageToken });
      expect(resumed.flatMap((p) => p.directories)).toEqual(flat.slice(30));
    });

    it('deduplicates repeated subtrees and omits missing ones', async () => {
      const file = (await put(Buffer.from('shared')))[0]!;
      const shared = await putDir({ files: [{ name: 'x', digest: file }] });
      const absent = digestOf(DirectoryCodec.encode({ files: [{ name: 'gone', digest: file }] }));
      const root = await putDir({
        directories: [
          { name: 'a', digest: shared },
          { name: 'b', digest: shared },
          { name: 'c', digest: absent },
        ],
      });
      const dirs = (await f.client.getTree({ instanceName: I, rootDigest: root })).flatMap((r) => r.directories);
      expect(dirs).toHaveLength(2);
      expect(dirs[1]!.files[0]!.name).toBe('x');
    });

    it('answers an empty root with one empty directory, a missing root with NOT_FOUND', async () => {
      const empty = await f.client.getTree({ instanceName: I, rootDigest: EMPTY_DIGEST });
      expect(empty.flatMap((r) => r.directories)).toEqual([{ files: [], directories: [], symlinks: [], nodeProperties: null }]);
      const missing = digestOf(Buffer.from('no such directory'));
      await expect(f.client.getTree({ instanceName: I, rootDigest: missing })).rejects.toEqual(
        grpcError(status.NOT_FOUND, /root directory .* not found/),
      );
    });

    it('rejects bad page tokens, negative page sizes and a missing root digest', async () => {
      const root = await putDir({ files: [] , symlinks: [{ name: 'l', target: 't' }] });
      await expect(f.client.getTree({ instanceName: I, rootDigest: root, pageToken: 'abc' })).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /page_token "abc"/),
      );
      await expect(f.client.getTree({ instanceName: I, rootDigest: root, pageSize: -1 })).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /page_size/),
      );
      await expect(f.client.getTree({ instanceName: I })).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /root_digest is required/));
    });

    it('reports a root that is not a Directory', async () => {
      const [notDir] = await put(Buffer.from([0xff, 0xff, 0xff, 0xff]));
      await expect(f.client.getTree({ instanceName: I, rootDigest: notDir })).rejects.toEqual(
        grpcError(status.INVALID_ARGUMENT, /is not a Directory message/),
      );
    });
  });
});
