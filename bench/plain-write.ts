// What the machine itself does for a large upload's file work, so the rpc
// section can print ncache's ByteStream write beside it. On the 2-core
// Firecracker VM these benchmarks run on, writing a new file into page-cache
// memory the guest has not used yet costs a host page fault per 4 KiB page:
// plain node:fs wrote 256 MiB to a new kept file (fsync included) at about
// 330-350 MB/s there, and at about 1 GB/s into pages freed a moment before
// (docs/benchmarks.md). A MB/s figure alone cannot tell ncache's cost from
// that, so the section measures both in the same run, on the same filesystem.
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** The same gathering as the filesystem store: its writes are about 1 MiB each. */
const WRITE_BYTES = 1024 * 1024;

/**
 * Writes `data` to a new file in `dir` (writev of 1 MiB, then fsync and
 * close) and returns the milliseconds taken. The file is kept, as the CAS
 * keeps an upload, so the next sample gets fresh pages too.
 */
export async function plainFileWriteMs(dir: string, name: string, data: Buffer, chunkBytes: number): Promise<number> {
  const start = performance.now();
  const fh = await open(join(dir, name), 'wx', 0o444);
  try {
    for (let batchStart = 0; batchStart < data.length; batchStart += WRITE_BYTES) {
      const batchEnd = Math.min(data.length, batchStart + WRITE_BYTES);
      const pieces: Buffer[] = [];
      for (let at = batchStart; at < batchEnd; at += chunkBytes) pieces.push(data.subarray(at, Math.min(batchEnd, at + chunkBytes)));
      const { bytesWritten } = await fh.writev(pieces);
      if (bytesWritten !== batchEnd - batchStart) throw new Error(`short write to ${name}: ${bytesWritten} of ${batchEnd - batchStart} bytes`);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return performance.now() - start;
}
