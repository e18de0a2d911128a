// The gRPC section: the calls Bazel makes, against `ncache serve` with a
// filesystem store, run as a child process so its memory is read from /proc.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonFixture } from '../test/helpers/daemon-process.js';
import { blobBytes, blobChunks, digestOfBuffer, digestOfChunks, slices } from './blob-data.js';
import type { BenchSettings } from './env.js';
import { check, timed } from './measure.js';
import { mb, mbPerSecond, median, millis, perSecond, table } from './format.js';
import { processMemory } from './proc-usage.js';
import { LeanByteStreamWriter } from './lean-writer.js';
import { plainFileWriteMs } from './plain-write.js';
import { ReapiClient } from './reapi-client.js';
import type { Digest } from '../src/proto/reapi.js';

const MiB = 1024 * 1024;

/** Groups blobs so each BatchUpdateBlobs request stays under the advertised limit (with room for framing). */
function batches<T extends { digest: Digest }>(items: T[], maxBytes: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const cost = item.digest.sizeBytes + 128;
    if (current.length > 0 && bytes + cost > maxBytes - 4096) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += cost;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Samples a process's RSS while `fn` runs (a sampler, not a wait) and returns the largest value seen. */
async function peakRssDuring(pid: number, fn: () => Promise<unknown>): Promise<number> {
  let peak = (await processMemory(pid)).rss;
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(async () => {
      peak = Math.max(peak, (await processMemory(pid)).rss);
    });
  }, 20);
  try {
    await fn();
  } finally {
    clearInterval(timer);
    await sampling;
  }
  return Math.max(peak, (await processMemory(pid)).rss);
}

export async function runRpcBench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  print('\n## gRPC against `ncache serve` (filesystem CAS behind verify, as in the test config)');
  const rows: string[][] = [];
  const row = (metric: string, value: string, aim = '', detail = '') => {
    rows.push([metric, value, aim, detail]);
    print(`  ${metric}: ${value}${detail ? `  (${detail})` : ''}`);
  };

  const daemons = await DaemonFixture.create();
  try {
    const daemon = await daemons.start();
    const client = new ReapiClient(daemon.address);
    try {
      const capabilities = await client.getCapabilities();
      const maxBatch = capabilities.cacheCapabilities?.maxBatchTotalSizeBytes || 4 * MiB;
      const idle = await processMemory(daemon.pid);
      row('daemon RSS, idle', mb(idle.rss), '<= 80 MB', 'after start and one GetCapabilities');

      // ByteStream: one fresh blob per sample, written then read back. Small blobs are
      // timed in runs of several so a sample is not a single round trip. Uploads go
      // through the lean client (lean-writer.ts: grpc-js cost more CPU than the daemon
      // on the two cores they share); the largest size is written through grpc-js too.
      const lean = new LeanByteStreamWriter(daemon.address);
      const largestMiB = Math.max(...settings.bytestreamSizesMiB);
      // Plain node:fs writes of the largest size, on the daemon's filesystem (plain-write.ts).
      const plainDir = join(daemons.dataDir, 'plain-writes');
      await mkdir(plainDir);
      let serial = 0;
      for (const sizeMiB of settings.bytestreamSizesMiB) {
        const size = sizeMiB * MiB;
        const perSample = Math.max(1, Math.floor((16 * MiB) / size));
        const samples = size >= 64 * MiB ? Math.min(3, settings.repeats) : settings.repeats;
        const data = blobBytes(`bytestream-${sizeMiB}`, size);
        // Digests are computed before the clock starts; the first word makes each blob new.
        const freshDigests = () => {
          const first = serial + 1;
          serial += perSample;
          return Array.from({ length: perSample }, (_, k) => {
            data.writeUInt32BE(first + k, 0);
            return { serial: first + k, digest: digestOfBuffer(data) };
          });
        };
        const writeAll = (blobs: { serial: number; digest: Digest }[], write: (digest: Digest) => Promise<number>) =>
          timed(async () => {
            for (const blob of blobs) {
              data.writeUInt32BE(blob.serial, 0);
              const committed = await write(blob.digest);
              check(committed === size, `write of ${size} bytes committed ${committed}`);
            }
          });
        const writeMs: number[] = [];
        const grpcWriteMs: number[] = [];
        const plainWriteMs: number[] = [];
        const readMs: number[] = [];
        for (let s = 0; s < samples; s++) {
          const blobs = freshDigests();
          if (sizeMiB === largestMiB) {
            // Just before ncache's sample, so both meet the machine in the same state.
            data.writeUInt32BE(blobs[0]!.serial, 0);
            plainWriteMs.push(await plainFileWriteMs(plainDir, `sample-${blobs[0]!.serial}`, data, settings.writeChunkBytes));
          }
          writeMs.push(await writeAll(blobs, (digest) => lean.write(digest, slices(data, settings.writeChunkBytes), randomUUID())));
          readMs.push(
            await timed(async () => {
              for (const { digest } of blobs) {
                const received = await client.read(digest);
                check(received === size, `read of a ${size}-byte blob returned ${received} bytes`);
              }
            }),
          );
          if (sizeMiB === largestMiB) {
            const viaGrpcJs = async (digest: Digest) =>
              Number((await client.write(digest, slices(data, settings.writeChunkBytes), randomUUID())).committedSize);
            grpcWriteMs.push(await writeAll(freshDigests(), viaGrpcJs));
          }
        }
        const bytes = size * perSample;
        const how = `median of ${samples} samples x ${perSample} blob(s)`;
        const chunking = `${settings.writeChunkBytes / 1024} KiB requests`;
        const ofPlain =
          plainWriteMs.length > 0 && perSample === 1
            ? `; ${((100 * median(plainWriteMs)) / median(writeMs)).toFixed(0)} % of the plain node:fs write below`
            : '';
        row(`ByteStream write, ${sizeMiB} MiB blobs`, mbPerSecond(bytes, median(writeMs)), size >= 64 * MiB ? '>= 300 MB/s' : '', `${how}, ${chunking}${ofPlain}`);
        if (plainWriteMs.length > 0) {
          row(
            `plain node:fs write of a new ${sizeMiB} MiB file, fsync included`,
            mbPerSecond(size, median(plainWriteMs)),
            '',
            `no ncache: what this machine's page cache and disk allow (plain-write.ts); median of ${plainWriteMs.length}`,
          );
        }
        if (grpcWriteMs.length > 0) {
          row(`ByteStream write, ${sizeMiB} MiB blobs, grpc-js client`, mbPerSecond(bytes, median(grpcWriteMs)), '', `${how}, ${chunking}; the client's own cost included`);
        }
        row(`ByteStream read, ${sizeMiB} MiB blobs`, mbPerSecond(bytes, median(readMs)), size >= 64 * MiB ? '>= 400 MB/s' : '', how);
      }
      lean.close();

      // Batch calls: fresh blobs per sample, split to respect max_batch_total_size_bytes.
      const present: Digest[] = [];
      const updateMs: number[] = [];
      const readMs: number[] = [];
      for (let s = 0; s < settings.repeats; s++) {
        const blobs = Array.from({ length: settings.batchCount }, (_, i) => {
          const data = blobBytes(`batch-${s}-${i}`, settings.batchBlobBytes);
          return { digest: digestOfBuffer(data), data };
        });
        const groups = batches(blobs, maxBatch);
        updateMs.push(
          await timed(async () => {
            for (const group of groups) {
              const response = await client.batchUpdateBlobs(group);
              check(response.responses.every((r) => (r.status?.code ?? 0) === 0), 'a BatchUpdateBlobs entry failed');
            }
          }),
        );
        readMs.push(
          await timed(async () => {
            for (const group of groups) {
              const response = await client.batchReadBlobs(group.map((b) => b.digest));
              check(
                response.responses.every((r) => (r.status?.code ?? 0) === 0 && r.data.length === settings.batchBlobBytes),
                'a BatchReadBlobs entry failed',
              );
            }
          }),
        );
        present.push(...blobs.map((b) => b.digest));
        if (s === 0) print(`  (batches of up to ${groups[0]!.length} blobs; server max_batch_total_size_bytes = ${maxBatch})`);
      }
      const batchHow = `${settings.batchCount} x ${settings.batchBlobBytes} B, median of ${settings.repeats}`;
      row('BatchUpdateBlobs', perSecond(settings.batchCount, median(updateMs)), '', batchHow);
      row('BatchReadBlobs', perSecond(settings.batchCount, median(readMs)), '', batchHow);

      // FindMissingBlobs: the blobs just uploaded plus unknown digests, one call.
      const known = present.slice(0, Math.min(present.length, Math.floor(settings.findMissingDigests / 10)));
      const unknown = Array.from({ length: settings.findMissingDigests - known.length }, (_, i) => ({
        hash: randomBytes(32).toString('hex'),
        sizeBytes: 1000 + i,
      }));
      const query = [...known, ...unknown];
      await client.findMissingBlobs(query); // connection and code paths warmed up
      const findMs: number[] = [];
      for (let s = 0; s < Math.max(5, settings.repeats); s++) {
        let missing = -1;
        findMs.push(await timed(async () => (missing = (await client.findMissingBlobs(query)).missingBlobDigests.length)));
        check(missing === unknown.length, `FindMissingBlobs reported ${missing} missing, expected ${unknown.length}`);
      }
      row(
        `FindMissingBlobs, ${query.length} digests`,
        millis(median(findMs)),
        '<= 30 ms',
        `${known.length} present, ${unknown.length} missing; median of ${findMs.length}`,
      );

      row('daemon RSS, peak (VmHWM) over the above', mb((await processMemory(daemon.pid)).hwm), '', '');
      await daemon.stop();
    } finally {
      client.close();
    }
  } finally {
    await daemons.cleanup();
  }

  // RSS growth for one large upload, on a fresh daemon so earlier peaks do not count.
  if (settings.rssUploadMiB > 0) {
    const size = settings.rssUploadMiB * MiB;
    const seed = `rss-upload-${size}`;
    const digest = digestOfChunks(blobChunks(seed, size));
    const fresh = await DaemonFixture.create();
    try {
      const daemon = await fresh.start();
      const client = new ReapiClient(daemon.address);
      try {
        await client.getCapabilities();
        const before = (await processMemory(daemon.pid)).rss;
        let writeMs = 0;
        const peakWrite = await peakRssDuring(daemon.pid, async () => {
          writeMs = await timed(() => client.write(digest, blobChunks(seed, size, settings.writeChunkBytes), randomUUID()));
        });
        let readMs = 0;
        const peakRead = await peakRssDuring(daemon.pid, async () => {
          readMs = await timed(async () => check((await client.read(digest)) === size, 'large read size'));
        });
        const hwm = (await processMemory(daemon.pid)).hwm;
        const what = `${settings.rssUploadMiB} MiB`;
        row(`RSS growth, ${what} ByteStream upload`, mb(peakWrite - before), '<= 64 MB', `RSS before ${mb(before)}, sampled peak ${mb(peakWrite)}, VmHWM ${mb(hwm)}`);
        row(`RSS growth, ${what} ByteStream read`, mb(peakRead - before), '', `sampled peak ${mb(peakRead)}`);
        row(`ByteStream write, ${what} (streamed, generated on the fly)`, mbPerSecond(size, writeMs), '', 'one sample');
        row(`ByteStream read, ${what}`, mbPerSecond(size, readMs), '', 'one sample');
        await daemon.stop();
      } finally {
        client.close();
      }
    } finally {
      await fresh.cleanup();
    }
  }

  print('');
  print(table(['metric', 'value', 'aim', 'how'], rows));
}
