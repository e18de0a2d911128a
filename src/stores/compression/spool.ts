// Holds a compressed value until its exact size is known. The backend's
// update() needs the size up front, but a compressed size is only known at
// the end, so the encoded blocks wait here: in memory while they stay under
// `memoryLimit` (most values, and every dedup chunk), then in a temp file.
// The trade-off: a large value is written and read once more locally, in
// exchange for memory that stays bounded whatever the blob's size.
//
// The temp file is unlinked as soon as it is open (we keep the handle), so it
// vanishes with the handle even if the process is killed mid-upload.
import { randomUUID } from 'node:crypto';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { internal } from '../../util/errors.js';
import type { ByteStream } from '../store.js';

/** Writes to the temp file are gathered to about this size. */
const WRITE_BATCH_BYTES = 1 << 20;
const READ_CHUNK_BYTES = 1 << 20;

export class Spool {
  private memory: Buffer[] = [];
  private memoryBytes = 0;
  private file: FileHandle | undefined;
  private fileBytes = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** At most one write in flight, overlapping the next block's compression. */
  private writing: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly memoryLimit: number,
  ) {}

  get bytes(): number {
    return this.memoryBytes + this.fileBytes + this.batchBytes;
  }

  /** True once the spool went to disk. */
  get spilled(): boolean {
    return this.file !== undefined;
  }

  async append(buf: Buffer): Promise<void> {
    if (this.file === undefined) {
      if (this.memoryBytes + buf.length <= this.memoryLimit) {
        this.memory.push(buf);
        this.memoryBytes += buf.length;
        return;
      }
      await this.openFile();
      this.batch = this.memory;
      this.batchBytes = this.memoryBytes;
      this.memory = [];
      this.memoryBytes = 0;
    }
    this.batch.push(buf);
    this.batchBytes += buf.length;
    if (this.batchBytes >= WRITE_BATCH_BYTES) await this.flushBatch();
  }

  private async openFile(): Promise<void> {
    const path = join(this.dir, `ncache-compression-${randomUUID()}.spool`);
    this.file = await open(path, 'wx+', 0o600);
    await unlink(path);
  }

  private async flushBatch(): Promise<void> {
    if (this.writing) await this.writing;
    this.writing = undefined;
    if (this.batchBytes === 0) return;
    const buffers = this.batch;
    const total = this.batchBytes;
    const position = this.fileBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.fileBytes += total;
    this.writing = writeAll(this.file!, buffers, total, position);
    // Observed at the next flush or read; this only keeps it from counting as unhandled meanwhile.
    this.writing.catch(() => {});
  }

  /** The spooled bytes in order (read once, after the last append). */
  async *read(): ByteStream {
    if (this.file === undefined) {
      yield* this.memory;
      return;
    }
    await this.flushBatch();
    if (this.writing) await this.writing;
    this.writing = undefined;
    for (let pos = 0; pos < this.fileBytes; ) {
      // A fresh buffer each time: the consumer may keep it (the memory store does).
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, this.fileBytes - pos));
      const { bytesRead } = await this.file.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw internal(`compression spool file ended at ${pos} of ${this.fileBytes} bytes`);
      pos += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  }

  /** Frees memory and closes (so removes) the temp file. */
  async dispose(): Promise<void> {
    this.memory = [];
    this.batch = [];
    if (this.writing) await this.writing.catch(() => {});
    this.writing = undefined;
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }
}

async function writeAll(fh: FileHandle, buffers: Buffer[], total: number, position: number): Promise<void> {
  const { bytesWritten } = await fh.writev(buffers, position);
  if (bytesWritten === total) return;
  // Short writes are rare on regular files (a signal, a full disk): finish the rest the plain way.
  let rest = Buffer.concat(buffers, total).subarray(bytesWritten);
  let at = position + bytesWritten;
  while (rest.length > 0) {
    const { bytesWritten: n } = await fh.write(rest, 0, rest.length, at);
    if (n === 0) throw internal('compression spool: write made no progress');
    rest = rest.subarray(n);
    at += n;
  }
}
