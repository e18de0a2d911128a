// Buffers ByteStream Read fills from open files (StoreDriver.openBlobFile)
// and takes back once HTTP/2 has sent every message cut from them. A fresh
// buffer per chunk cost page faults on every read (a 1 MiB read into a fresh
// buffer took 4× as long as into a reused one here) and external memory
// that kept starting V8's full collections. A buffer is only ever handed to
// the gRPC responder, whose `written` callback comes once Node's HTTP/2 has
// let go of it (written to the socket, or dropped with the stream), so reuse
// never touches bytes still on their way out.

import type { BlobFile } from '../stores/store.js';

/** At most this many bytes of free buffers are kept; the rest are left to the GC. */
const MAX_FREE_BYTES = 8 * 1024 * 1024;

export class ReadBufferPool {
  private readonly free: Buffer[] = [];
  private readonly maxFree: number;

  constructor(readonly bufferBytes: number) {
    this.maxFree = Math.max(2, Math.floor(MAX_FREE_BYTES / bufferBytes));
  }

  /** A buffer of `bufferBytes`, reused when one is free. Its contents are stale: fill it before use. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  /** Gives `buf` back; nothing may read or write it after this. */
  give(buf: Buffer): void {
    if (buf.length === this.bufferBytes && this.free.length < this.maxFree) this.free.push(buf);
  }

  /** Free buffers held (for tests). */
  get freeCount(): number {
    return this.free.length;
  }
}

/**
 * The size of the pool's buffers for Read messages of `messageBytes`: a
 * whole number of messages, at least 256 KiB, so one read from disk feeds
 * several messages and a large file takes few trips through the thread pool.
 */
export function readBufferBytes(messageBytes: number): number {
  const min = 256 * 1024;
  return messageBytes >= min ? messageBytes : Math.ceil(min / messageBytes) * messageBytes;
}

/**
 * A buffer from `pool` holding the file's bytes from `position` (as many as
 * fit before the range's end): `filled` of them. A failed read gives the
 * buffer back and rethrows.
 */
export async function readNext(pool: ReadBufferPool, file: BlobFile, position: number): Promise<{ buf: Buffer; filled: number }> {
  const buf = pool.take();
  const filled = Math.min(buf.length, file.end - position);
  try {
    await file.read(buf.subarray(0, filled), position);
  } catch (err) {
    pool.give(buf);
    throw err;
  }
  return { buf, filled };
}
