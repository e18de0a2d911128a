// Streaming file I/O for the filesystem store: gathered writes that overlap
// the next read, and a read-ahead iterator over a range of an open file.
import type { FileHandle } from 'node:fs/promises';
import { internal } from '../../util/errors.js';
import type { ByteStream } from '../store.js';

/** Incoming chunks (Bazel sends 16 KiB) are gathered into one writev of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024;
const WRITE_BATCH_BUFFERS = 256;

export async function* singleChunk(data: Buffer): ByteStream {
  if (data.length > 0) yield data;
}

/** Streams `source` into `fh`, gathering small chunks into large writes and overlapping each write with the next read. */
export async function writeStream(fh: FileHandle, source: ByteStream): Promise<void> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inflight: Promise<void> | undefined;
  try {
    for await (const chunk of source) {
      if (chunk.length === 0) continue;
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= WRITE_BATCH_BYTES || batch.length >= WRITE_BATCH_BUFFERS) {
        if (inflight) await inflight;
        inflight = writeAll(fh, batch, batchBytes);
        // Observed at the next await; this only keeps it from counting as unhandled meanwhile.
        inflight.catch(() => {});
        batch = [];
        batchBytes = 0;
      }
    }
    if (inflight) await inflight;
    inflight = undefined;
    if (batchBytes > 0) await writeAll(fh, batch, batchBytes);
  } finally {
    // Never close the file under a write still in progress.
    if (inflight) await inflight.catch(() => {});
  }
}

async function writeAll(fh: FileHandle, buffers: Buffer[], total: number): Promise<void> {
  const { bytesWritten } = await fh.writev(buffers);
  if (bytesWritten === total) return;
  // Short writes are rare on regular files (a signal, a full disk): finish the rest the plain way.
  let rest = Buffer.concat(buffers, total).subarray(bytesWritten);
  while (rest.length > 0) {
    const { bytesWritten: n } = await fh.write(rest);
    if (n === 0) throw internal('write made no progress');
    rest = rest.subarray(n);
  }
}

/**
 * The bytes [start, end) of an open file as an async iterator, reading one
 * chunk ahead. The file is closed at the end, on error, and on return() even
 * when iteration never started (a plain async generator would leak it then).
 */
export class FileChunks implements AsyncIterableIterator<Buffer> {
  private pos: number;
  private ahead: Promise<Buffer> | undefined;
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly end: number,
    private readonly chunkSize: number,
    private readonly what: string,
  ) {
    this.pos = start;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    if (this.closed) return { value: undefined, done: true };
    const pending = this.ahead ?? (this.pos < this.end ? this.readNext() : undefined);
    this.ahead = undefined;
    if (pending === undefined) {
      await this.close();
      return { value: undefined, done: true };
    }
    let chunk: Buffer;
    try {
      chunk = await pending;
    } catch (err) {
      await this.close();
      throw err;
    }
    if (this.pos < this.end) {
      this.ahead = this.readNext();
      this.ahead.catch(() => {});
    }
    return { value: chunk, done: false };
  }

  async return(): Promise<IteratorResult<Buffer>> {
    await this.close();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<Buffer>> {
    await this.close();
    throw err;
  }

  private readNext(): Promise<Buffer> {
    const position = this.pos;
    const n = Math.min(this.chunkSize, this.end - position);
    this.pos += n;
    return this.readAt(position, n);
  }

  private async readAt(position: number, n: number): Promise<Buffer> {
    // Not from the shared pool: the consumer may keep the chunk (ByteStream sends it as it is).
    const buf = Buffer.allocUnsafeSlow(n);
    let filled = 0;
    while (filled < n) {
      const { bytesRead } = await this.fh.read(buf, filled, n - filled, position + filled);
      if (bytesRead === 0) throw internal(`${this.what}: the file ended ${n - filled} bytes early`);
      filled += bytesRead;
    }
    return buf;
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead) await ahead.catch(() => {});
    await this.fh.close().catch(() => {});
  }
}
