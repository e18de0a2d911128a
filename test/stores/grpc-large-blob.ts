// One large blob through the grpc store to a cluster daemon and back, its
// bytes generated and checked on the fly, while the process's memory is
// sampled: what it costs must not grow with the blob. Run at two scales: a
// short form in `npm test`, a 4 GiB form in test/stress/.
import { createHash, randomBytes } from 'node:crypto';
import type { ByteStream } from '../../src/stores/store.js';
import { createGrpcStore } from '../../src/stores/grpc-store.js';
import { systemClock } from '../../src/util/clock.js';
import type { Digest } from '../../src/util/digest.js';
import { silentLogger } from '../../src/util/logger.js';
import type { Cleanups } from '../helpers/temp-dir.js';
import { grpcSpec, startCluster } from './grpc-two-daemons.js';

const BLOCK = 1024 * 1024;

/** `size` bytes in 1 MiB blocks, each a fixed random block stamped with its index: made, never stored. */
function generated(size: number): () => ByteStream {
  const base = randomBytes(BLOCK);
  return async function* () {
    for (let at = 0, i = 0; at < size; at += BLOCK, i++) {
      const block = Buffer.from(base.subarray(0, Math.min(BLOCK, size - at)));
      if (block.length >= 8) block.writeBigUInt64LE(BigInt(i));
      yield block;
    }
  };
}

async function digestOfStream(source: ByteStream, size: number): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of source) hash.update(chunk);
  return { hash: hash.digest('hex'), sizeBytes: size };
}

/** Samples resident memory while `work` runs; the peak above the level before it. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; peakBytes: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakBytes: peak - before };
  } finally {
    clearInterval(timer);
  }
}

export interface LargeBlobReport {
  readonly sizeBytes: number;
  /** Peak growth of resident memory over the level before, during the upload and during the read back. */
  readonly uploadPeakBytes: number;
  readonly readPeakBytes: number;
  readonly readBackMatches: boolean;
}

export async function largeBlobRoundTrip(sizeBytes: number, cleanups: Cleanups): Promise<LargeBlobReport> {
  const cluster = await startCluster(cleanups);
  const store = createGrpcStore(grpcSpec(cluster.url, 'cas'), { logger: silentLogger, clock: systemClock, storeByName: () => { throw new Error('none'); } }, 'stores[0]');
  cleanups.push(() => store.close?.());
  const source = generated(sizeBytes);
  const digest = await digestOfStream(source(), sizeBytes);
  const upload = await peakGrowth(() => store.update(digest, source(), sizeBytes));
  const read = await peakGrowth(async () => digestOfStream(await store.getPart(digest, 0), sizeBytes));
  return { sizeBytes, uploadPeakBytes: upload.peakBytes, readPeakBytes: read.peakBytes, readBackMatches: read.result.hash === digest.hash };
}
