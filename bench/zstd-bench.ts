// The zstd section: ByteStream write and read of text-like and random blobs,
// plain (blobs/...) beside compressed (compressed-blobs/zstd/...), against
// one `ncache serve` in one run, plus the server's encoder alone at levels 1
// and 3 (why reads use level 1). MB/s count uncompressed blob bytes; uploads
// are compressed before the clock starts (as Bazel would, on its side) and
// reads are not decompressed by the client, so the time is the server's and
// the wire's.
import { randomUUID } from 'node:crypto';
import { compress } from 'zstd-napi';
import { zstdCompressStream } from '../src/daemon/compressed-blobs/zstd-codec.js';
import type { ReadResponse } from '../src/proto/reapi.js';
import { DaemonFixture } from '../test/helpers/daemon-process.js';
import { ReapiClient, blobName, compressedBlobName, compressedUploadName, uploadName } from '../test/helpers/grpc-client.js';
import { blobBytes, digestOfBuffer, slices } from './blob-data.js';
import { Prng, textLike } from './corpus.js';
import type { BenchSettings } from './env.js';
import { check, timed } from './measure.js';
import { mbPerSecond, median, table } from './format.js';

const MiB = 1024 * 1024;
/** What Bazel sends per WriteRequest. */
const WRITE_CHUNK = 16 * 1024;
type Kind = 'text' | 'random';
type Mode = 'identity' | 'zstd';

function makeBlob(kind: Kind, size: number, sample: number): Buffer {
  return kind === 'text' ? textLike(new Prng(sample + 1), size) : blobBytes(`zstd-${sample}`, size);
}

/** Bytes on the wire of one Read. */
async function readWire(client: ReapiClient, name: string): Promise<number> {
  let bytes = 0;
  for await (const msg of client.readStream(name) as AsyncIterable<ReadResponse>) bytes += msg.data.length;
  return bytes;
}

interface Sample {
  writeMs: number;
  readMs: number;
  writeWire: number;
  readWire: number;
}

/** One fresh blob written and read back through `mode`'s names. */
async function sampleOnce(client: ReapiClient, kind: Kind, mode: Mode, size: number, sample: number): Promise<Sample> {
  const data = makeBlob(kind, size, sample * 2 + (mode === 'zstd' ? 1 : 0));
  const digest = digestOfBuffer(data);
  // Client-side level 3 (zstd's default, what Bazel's zstd-jni uses), before the clock.
  const upload = mode === 'zstd' ? compress(data) : data;
  const name = mode === 'zstd' ? compressedUploadName('', digest, randomUUID()) : uploadName('', digest, randomUUID());
  const writeMs = await timed(async () => {
    const res = await client.write(name, upload, { chunkSize: WRITE_CHUNK });
    check(res.committedSize === upload.length, `${kind} ${mode} write committed ${res.committedSize} of ${upload.length}`);
  });
  let wire = 0;
  const readMs = await timed(async () => {
    wire = await readWire(client, mode === 'zstd' ? compressedBlobName('', digest) : blobName('', digest));
  });
  if (mode === 'identity') check(wire === size, `identity read returned ${wire} of ${size} bytes`);
  return { writeMs, readMs, writeWire: upload.length, readWire: wire };
}

/** The server's encoder alone (no gRPC), over a blob already in memory. */
async function encoderMbPerSecond(data: Buffer, level: number): Promise<{ rate: string; ratio: number }> {
  let out = 0;
  const ms = await timed(async () => {
    for await (const piece of zstdCompressStream(pieces(data), data.length, level)) out += piece.length;
  });
  return { rate: mbPerSecond(data.length, ms), ratio: data.length / out };
}

/** The blob in store-sized pieces, as a store stream would yield it. */
async function* pieces(data: Buffer): AsyncGenerator<Buffer> {
  yield* slices(data, 256 * 1024);
}

export async function runZstdBench(settings: BenchSettings, print: (line: string) => void): Promise<void> {
  const size = settings.zstdBlobMiB * MiB;
  print(`\n## zstd on the wire: ${settings.zstdBlobMiB} MiB blobs, ByteStream plain vs compressed-blobs/zstd (filesystem CAS behind verify)`);
  print(`  uploads: ${WRITE_CHUNK / 1024} KiB requests, compressed by the client at level 3 before the clock; reads: server level 1, not decompressed by the client`);
  const rows: string[][] = [];
  const daemons = await DaemonFixture.create();
  try {
    const daemon = await daemons.start();
    // Bazel's per-stream receive window (see bench/reapi-client.ts).
    const client = new ReapiClient(daemon.address, { 'grpc-node.flow_control_window': MiB });
    try {
      for (const kind of ['text', 'random'] as const) {
        // Alternating modes, so load on the machine spreads over both alike.
        const samples: Record<Mode, Sample[]> = { identity: [], zstd: [] };
        for (let s = 0; s < settings.repeats; s++) {
          for (const mode of ['identity', 'zstd'] as const) samples[mode].push(await sampleOnce(client, kind, mode, size, s));
        }
        for (const mode of ['identity', 'zstd'] as const) {
          const list = samples[mode];
          const writeRatio = size / median(list.map((x) => x.writeWire));
          const readRatio = size / median(list.map((x) => x.readWire));
          rows.push([
            `${kind}, ${mode}`,
            mbPerSecond(size, median(list.map((x) => x.writeMs))),
            mbPerSecond(size, median(list.map((x) => x.readMs))),
            `${writeRatio.toFixed(2)}x`,
            `${readRatio.toFixed(2)}x`,
          ]);
        }
      }
      await daemon.stop();
    } finally {
      client.close();
    }
  } finally {
    await daemons.cleanup();
  }
  print(table(['blob, names', 'write MB/s', 'read MB/s', 'upload ratio (L3)', 'read ratio (server)'], rows));
  print(`  (median of ${settings.repeats}; MB/s of uncompressed bytes; ratio = blob size / bytes on the wire)`);

  const encoderRows: string[][] = [];
  for (const kind of ['text', 'random'] as const) {
    const data = makeBlob(kind, size, 99);
    for (const level of [1, 3]) {
      const { rate, ratio } = await encoderMbPerSecond(data, level);
      encoderRows.push([`${kind}, level ${level}`, rate, `${ratio.toFixed(2)}x`]);
    }
  }
  print('\n  the server encoder alone (zstdCompressStream, in process, one core):');
  print(table(['blob, level', 'MB/s', 'ratio'], encoderRows));
}
