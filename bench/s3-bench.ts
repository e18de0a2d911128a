// The S3 section: s3rver (a real S3 HTTP endpoint, in a child process) on
// this machine, so the numbers show ncache's own overhead, not a network.
//
// 1. Transfer rates straight through the CloudObjectStore (in process, the
//    real AWS SDK, default part size and concurrency) for 1 MB and 256 MB
//    blobs: upload MB/s and download MB/s (each download hashed to check it).
// 2. S3 requests by operation per Bazel build of the benchmark workspace
//    through `ncache serve` with the S3 config (write-behind), counted by a
//    proxy in front of s3rver: cold through daemon A (uploads; its graceful
//    stop flushes what is still owed), warm from S3 through daemon B with an
//    empty fast tier, and warm again through B with its fast tier full.
import { createHash } from 'node:crypto';
import type { CloudObjectStoreSpec } from '../src/config/types.js';
import { CloudObjectStore } from '../src/stores/cloud-object-store.js';
import { createS3Client } from '../src/stores/s3/client.js';
import { systemClock } from '../src/util/clock.js';
import { silentLogger } from '../src/util/logger.js';
import { BazelWorkspace, findBazel, type BazelRun } from '../test/helpers/bazel.js';
import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { s3DaemonFixture, stopAndCheckFlushed } from '../test/helpers/s3-daemon.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../test/helpers/s3rver.js';
import { benchWorkspace } from './bench-workspace.js';
import { blobChunks, digestOfChunks } from './blob-data.js';
import type { BenchSettings } from './env.js';
import { mb, mbPerSecond, median, seconds, table } from './format.js';

const MIB = 1024 * 1024;

export async function runS3Bench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  print('\n## S3 tier (s3rver on this machine)');
  const s3 = await startS3rver({ buckets: ['ncache-bench'] });
  try {
    await transferRates(s3, settings, print);
    await buildRequests(s3, settings, print);
  } finally {
    await s3.stop();
  }
}

async function transferRates(s3: S3rverHandle, settings: BenchSettings, print: (line: string) => void): Promise<void> {
  const spec: CloudObjectStoreSpec = {
    kind: 'experimental_cloud_object_store',
    provider: 'aws',
    region: 'us-east-1',
    bucket: s3.bucket,
    key_prefix: 'bench/',
    endpoint: s3.endpoint,
    retry: { max_retries: 3, delay: 0.1, jitter: 0.5 },
    consider_expired_after_s: 0,
    // The config defaults (NativeLink's): 5 MiB single-PUT buffer, 10 parts in flight, 20 requests.
    max_retry_buffer_per_request: 5 * MIB,
    multipart_max_concurrent_uploads: 10,
    additional_max_concurrent_requests: 20,
    force_path_style: true,
    insecure_allow_http: false,
    disable_http2: false,
  };
  const ctx = {
    logger: silentLogger,
    clock: systemClock,
    storeByName: () => {
      throw new Error('the bench store has no ref stores');
    },
  };
  const store = new CloudObjectStore(spec, createS3Client(spec, s3rverEnv()), ctx);
  const rows: string[][] = [];
  try {
    for (const sizeMB of [1, 256]) {
      const size = sizeMB * 1_000_000;
      // 1 MB: the median of a few; 256 MB: fewer, it takes seconds each.
      const repeats = sizeMB === 1 ? settings.repeats : Math.min(2, settings.repeats);
      const ups: number[] = [];
      const downs: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const seed = `s3-bench-${sizeMB}-${i}-${process.pid}`;
        const key = digestOfChunks(blobChunks(seed, size));
        let t = performance.now();
        await store.update(key, toAsync(blobChunks(seed, size)), size);
        ups.push(performance.now() - t);
        t = performance.now();
        const hash = createHash('sha256');
        let got = 0;
        for await (const chunk of await store.getPart(key, 0)) {
          hash.update(chunk);
          got += chunk.length;
        }
        downs.push(performance.now() - t);
        if (got !== size || hash.digest('hex') !== key.hash) throw new Error(`S3 bench: ${sizeMB} MB blob read back wrong`);
        await store.remove(key);
      }
      rows.push([
        mb(size),
        String(repeats),
        mbPerSecond(size, median(ups)),
        mbPerSecond(size, median(downs)),
        size > spec.max_retry_buffer_per_request ? 'multipart, 16 MiB parts' : 'single PutObject',
      ]);
    }
  } finally {
    await store.close?.();
  }
  print('');
  print('CloudObjectStore <-> s3rver (in process, median):');
  print(table(['blob', 'runs', 'upload', 'download', 'upload as'], rows));
}

async function* toAsync(chunks: Iterable<Buffer>): AsyncGenerator<Buffer> {
  yield* chunks;
}

async function buildRequests(s3: S3rverHandle, settings: BenchSettings, print: (line: string) => void): Promise<void> {
  print('');
  print('S3 requests per Bazel build of the benchmark workspace (ncache serve, write-behind, counted by a proxy):');
  if (!findBazel()) {
    print('skipped: `bazel` is not on PATH (install Debian\'s bazel-bootstrap)');
    return;
  }
  const shape = benchWorkspace(settings.bazel);
  print(`workspace: ${shape.genrules} genrules, ${mb(shape.outputBytes)} of outputs`);
  const proxy = await FaultProxy.start(s3.endpoint);
  const ws = await BazelWorkspace.create({ files: shape.files, withStubs: false });
  const a = await s3DaemonFixture({ endpoint: proxy.endpoint, bucket: s3.bucket, keyPrefix: 'build/' });
  const b = await s3DaemonFixture({ endpoint: proxy.endpoint, bucket: s3.bucket, keyPrefix: 'build/' });
  const rows: string[][] = [];
  const ops = ['HeadObject', 'GetObject', 'PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'] as const;
  const row = (scenario: string, run: BazelRun | undefined) => {
    const counts = proxy.counts();
    const total = Object.values(counts).reduce((sum, n) => sum + (n ?? 0), 0);
    rows.push([
      scenario,
      run ? seconds(run.elapsedMs) : '-',
      run?.summary ? `${run.summary.remoteCacheHits}/${run.summary.total}` : '-',
      ...ops.map((op) => String(counts[op] ?? 0)),
      String(total),
    ]);
    proxy.resetCounts();
  };
  try {
    const daemonA = await a.start();
    proxy.resetCounts();
    const cold = await ws.run('build', [`--remote_cache=${daemonA.url}`, '//...']);
    row('cold, A (during the build)', cold);
    const flushed = await stopAndCheckFlushed(daemonA);
    row('cold, A (after the build until its graceful stop)', undefined);
    if (flushed.stillOwed.length > 0) print(`WARNING: A stopped with uploads still owed: ${flushed.stillOwed.join('; ')}`);

    const daemonB = await b.start();
    await ws.run('clean');
    proxy.resetCounts();
    const fromS3 = await ws.run('build', [`--remote_cache=${daemonB.url}`, '//...']);
    row('warm from S3, B (empty fast tier)', fromS3);
    await ws.run('clean');
    proxy.resetCounts();
    const local = await ws.run('build', [`--remote_cache=${daemonB.url}`, '//...']);
    row('warm, B again (full fast tier)', local);
    await stopAndCheckFlushed(daemonB);
  } finally {
    await ws.cleanup();
    await a.cleanup();
    await b.cleanup();
    await proxy.close();
  }
  print(table(['build', 'time', 'hits', ...ops.map((op) => op.replace('MultipartUpload', 'MPU')), 'total'], rows));
}
