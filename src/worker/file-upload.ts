// Output files go to the CAS from disk: hashed while read (never whole in
// memory), then, for blobs the CAS lacks, handed to the filesystem tier by
// rename when it is on the same filesystem (no copy at all), else streamed
// through an ordinary update.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import type { LinkableFiles, StoreDriver } from '../stores/store.js';
import { type Digest, digestKey, isEmptyDigest } from '../util/digest.js';
import { mapConcurrent } from '../util/concurrency.js';

const READ_CHUNK = 1 << 20;
const UPLOAD_CONCURRENCY = 8;
/**
 * Files up to this size are hashed with one synchronous read: microseconds
 * from the page cache, where a stream costs four thread-pool round trips
 * (most outputs, stdout and stderr are small).
 */
const SYNC_HASH_MAX_BYTES = 1 << 20;

/** SHA-256 and size of a file, streamed unless small. */
export async function hashFile(path: string): Promise<Digest> {
  const small = smallFile(path);
  if (small !== undefined) return { hash: createHash('sha256').update(small).digest('hex'), sizeBytes: small.length };
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK })) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return { hash: hash.digest('hex'), sizeBytes: size };
}

/** The bytes of a file of at most SYNC_HASH_MAX_BYTES, read synchronously; undefined when larger. */
function smallFile(path: string): Buffer | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > SYNC_HASH_MAX_BYTES) return undefined;
    const data = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const n = readSync(fd, data, filled, size - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return data.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

export interface FileBlob {
  readonly digest: Digest;
  readonly path: string;
}

/**
 * Stores the files the CAS does not have yet (each digest once). With
 * `linkable`, a stored file is moved out of `path`; the action directory is
 * removed afterwards anyway.
 */
export async function uploadFiles(cas: StoreDriver, linkable: LinkableFiles | undefined, files: readonly FileBlob[]): Promise<void> {
  const unique = [...new Map(files.filter((f) => !isEmptyDigest(f.digest)).map((f) => [digestKey(f.digest), f])).values()];
  if (unique.length === 0) return;
  // Asked rather than adopting everything: adopting a digest the tier holds
  // still fsyncs the file, leaves its recency alone, and through a fast_slow
  // uploads it to the slow tier again (an S3 PUT per output per action). The
  // answer is current: the filesystem index is the truth, and whoever removes
  // from a leaf behind an existence cache or a fast_slow's recent slow-tier
  // answers makes them forget (maintenance/tiers.ts forgetAbove).
  const sizes = await cas.has(unique.map((f) => f.digest));
  const missing = unique.filter((_f, i) => sizes[i] === undefined);
  await mapConcurrent(missing, UPLOAD_CONCURRENCY, async ({ digest, path }) => {
    if (linkable !== undefined) return linkable.adopt(digest, path);
    return cas.update(digest, createReadStream(path, { highWaterMark: READ_CHUNK }), digest.sizeBytes);
  });
}
