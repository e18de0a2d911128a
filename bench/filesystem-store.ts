// Quick throughput check of the filesystem store alone (no gRPC): prints MB/s
// for streaming a large blob in and out, and small-blob puts per second.
// Run: npx tsc -p tsconfig.json && node dist/bench/filesystem-store.js [sizeMB]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemStore } from '../src/stores/filesystem-store.js';
import type { ByteStream } from '../src/stores/store.js';
import { digestOf } from '../src/util/digest.js';

async function* chunks(data: Buffer, size: number): ByteStream {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, Math.min(data.length, off + size));
}

function mbps(bytes: number, ms: number): string {
  return ((bytes / 1e6) / (ms / 1000)).toFixed(0);
}

async function main(): Promise<void> {
  const sizeMb = Number(process.argv[2] ?? 256);
  const root = await mkdtemp(join(tmpdir(), 'ncache-bench-fs-'));
  const store = new FilesystemStore({ content_path: join(root, 'c'), temp_path: join(root, 't') });
  await store.start();
  try {
    const data = randomBytes(sizeMb * 1_000_000);
    const key = digestOf(data);
    for (const chunkSize of [1024 * 1024, 16 * 1024, 1024 * 1024, 16 * 1024]) {
      await store.remove(key);
      let t = performance.now();
      await store.update(key, chunks(data, chunkSize), data.length);
      const writeMs = performance.now() - t;
      t = performance.now();
      let read = 0;
      for await (const c of await store.getPart(key, 0)) read += c.length;
      const readMs = performance.now() - t;
      console.log(
        `${sizeMb} MB blob, ${chunkSize / 1024} KiB input chunks: write ${mbps(data.length, writeMs)} MB/s, read ${mbps(read, readMs)} MB/s`,
      );
    }
    const small = Array.from({ length: 1000 }, () => randomBytes(4096));
    let t = performance.now();
    await Promise.all(small.map((b) => store.update(digestOf(b), chunks(b, 4096), b.length)));
    const putMs = performance.now() - t;
    const keys = small.map(digestOf);
    t = performance.now();
    await store.has(keys);
    const hasMs = performance.now() - t;
    console.log(`1000 x 4 KB puts (concurrent): ${((1000 / putMs) * 1000).toFixed(0)} blobs/s; has(1000): ${hasMs.toFixed(2)} ms`);
  } finally {
    await store.close();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
