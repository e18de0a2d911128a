// Open content files (or an inline value) handed to a reader that brings its own buffers
// (StoreDriver.openBlobFile). Small files are read synchronously, as the
// store's getPart does (SYNC_READ_MAX_BYTES): one syscall on the event loop
// costs less than a round trip through the thread pool. Large files are read
// through the pool so a slow disk never stalls the event loop.
import { closeSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { internal } from '../../util/errors.js';
import type { BlobFile } from '../store.js';

/** Fills buf[0..] from `position`, one read at a time; throws if the file ends first. */
export function fillSync(fd: number, buf: Buffer, position: number, what: string): void {
  let filled = 0;
  while (filled < buf.length) {
    const n = readSync(fd, buf, filled, buf.length - filled, position + filled);
    if (n === 0) throw internal(`${what}: the file ended ${buf.length - filled} bytes early`);
    filled += n;
  }
}

/** A small content file, open by descriptor, read on the event loop. */
export class SyncBlobFile implements BlobFile {
  private closed = false;

  constructor(
    private readonly fd: number,
    readonly start: number,
    readonly end: number,
    private readonly what: string,
  ) {}

  async read(buf: Buffer, position: number): Promise<void> {
    fillSync(this.fd, buf, position, this.what);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** A large content file, read through the thread pool. */
export class PooledBlobFile implements BlobFile {
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    readonly start: number,
    readonly end: number,
    private readonly what: string,
  ) {}

  async read(buf: Buffer, position: number): Promise<void> {
    let filled = 0;
    while (filled < buf.length) {
      const { bytesRead } = await this.fh.read(buf, filled, buf.length - filled, position + filled);
      if (bytesRead === 0) throw internal(`${this.what}: the file ended ${buf.length - filled} bytes early`);
      filled += bytesRead;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => {});
  }
}

/** A value kept inline in the catalog: its bytes, already in memory. */
export class InlineBlobFile implements BlobFile {
  constructor(
    private readonly data: Buffer,
    readonly start: number,
    readonly end: number,
    private readonly what: string,
  ) {}

  async read(buf: Buffer, position: number): Promise<void> {
    if (position + buf.length > this.data.length) {
      throw internal(`${this.what}: the value ended ${position + buf.length - this.data.length} bytes early`);
    }
    this.data.copy(buf, 0, position, position + buf.length);
  }

  async close(): Promise<void> {}
}
