// writeStream on real files: the bytes land in order, a large upload starts
// early fdatasyncs one at a time, and a failed early flush fails the upload
// (Linux reports a writeback error to one sync call per open file, so the
// final fsync alone could miss it).
import { createHash } from 'node:crypto';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EARLY_FLUSH_BYTES, writeStream } from '../../src/stores/filesystem/file-io.js';
import type { ByteStream } from '../../src/stores/store.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();
const CHUNK = 64 * 1024;

/** `count` chunks of 64 KiB, each stamped with its index so order matters. */
async function* stampedChunks(count: number, failAfter?: number): ByteStream {
  for (let i = 0; i < count; i++) {
    if (i === failAfter) throw new Error('client went away');
    const chunk = Buffer.alloc(CHUNK, i % 251);
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}

function expectedHash(count: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < count; i++) {
    const chunk = Buffer.alloc(CHUNK, i % 251);
    chunk.writeUInt32BE(i, 0);
    hash.update(chunk);
  }
  return hash.digest('hex');
}

interface Flushes {
  started: number;
  mostAtOnce: number;
  inFlight: number;
}

/**
 * A real FileHandle whose datasync is counted, and optionally replaced: the
 * wrapper inherits everything else from the open file.
 */
async function countedFile(
  path: string,
  datasync?: (real: () => Promise<void>) => Promise<void>,
): Promise<{ fh: FileHandle; flushes: Flushes; close(): Promise<void> }> {
  const real = await open(path, 'wx');
  cleanups.push(() => real.close().catch(() => {}));
  const flushes: Flushes = { started: 0, mostAtOnce: 0, inFlight: 0 };
  const fh = Object.create(real) as FileHandle;
  fh.datasync = async () => {
    flushes.started++;
    flushes.inFlight++;
    flushes.mostAtOnce = Math.max(flushes.mostAtOnce, flushes.inFlight);
    try {
      await (datasync ? datasync(() => real.datasync()) : real.datasync());
    } finally {
      flushes.inFlight--;
    }
  };
  return { fh, flushes, close: () => real.close() };
}

describe('writeStream', () => {
  it('writes a large upload in order, starting early flushes one at a time', async () => {
    const dir = await tempDir('ncache-file-io-', cleanups);
    const path = join(dir, 'large');
    const count = (2.5 * EARLY_FLUSH_BYTES) / CHUNK;
    const { fh, flushes, close } = await countedFile(path);
    await writeStream(fh, stampedChunks(count));
    await close();
    expect(createHash('sha256').update(await readFile(path)).digest('hex')).toBe(expectedHash(count));
    expect(flushes.started).toBeGreaterThanOrEqual(1);
    expect(flushes.started).toBeLessThanOrEqual(2);
    expect(flushes.mostAtOnce).toBe(1);
    expect(flushes.inFlight).toBe(0);
  });

  it('starts no early flush for an upload below EARLY_FLUSH_BYTES', async () => {
    const dir = await tempDir('ncache-file-io-', cleanups);
    const path = join(dir, 'small');
    const count = EARLY_FLUSH_BYTES / CHUNK - 1;
    const { fh, flushes, close } = await countedFile(path);
    await writeStream(fh, stampedChunks(count));
    await close();
    expect(flushes.started).toBe(0);
    expect((await readFile(path)).length).toBe(count * CHUNK);
  });

  it('fails the upload when an early flush fails, though every write succeeded', async () => {
    const dir = await tempDir('ncache-file-io-', cleanups);
    const failure = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const { fh, flushes } = await countedFile(join(dir, 'eio'), () => Promise.reject(failure));
    await expect(writeStream(fh, stampedChunks((1.5 * EARLY_FLUSH_BYTES) / CHUNK))).rejects.toBe(failure);
    expect(flushes.started).toBe(1);
  });

  it('returns only once the early flush in progress has ended, also when the source fails', async () => {
    const dir = await tempDir('ncache-file-io-', cleanups);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let flushEnded = false;
    const { fh, flushes } = await countedFile(join(dir, 'held'), async (real) => {
      await held;
      await real();
      flushEnded = true;
    });
    // The source fails a little after the first flush started; the flush is still held.
    const writing = writeStream(fh, stampedChunks(2 * (EARLY_FLUSH_BYTES / CHUNK), EARLY_FLUSH_BYTES / CHUNK + 40));
    let settled = false;
    writing.catch(() => {}).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(flushes.started).toBe(1);
    expect(settled).toBe(false);
    release();
    await expect(writing).rejects.toThrow('client went away');
    expect(flushEnded).toBe(true);
  });
});
