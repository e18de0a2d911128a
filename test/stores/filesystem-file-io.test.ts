// writeStream (filesystem/file-io.ts) on real files: gathered writes land in
// order, and a large upload starts its pages' writeback while it still
// arrives (fdatasync every 32 MiB, one at a time), whose failure fails the
// write instead of being lost.
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeStream } from '../../src/stores/filesystem/file-io.js';
import type { ByteStream } from '../../src/stores/store.js';
import { deterministicBytes } from '../helpers/data.js';

const MiB = 1024 * 1024;

let dir: string;
let fh: FileHandle;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-file-io-'));
  fh = await open(join(dir, 'blob'), 'wx');
});

afterEach(async () => {
  await fh.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

/** `data` in 64 KiB chunks, yielding to the event loop between them as a network source does. */
async function* chunked(data: Buffer): ByteStream {
  for (let off = 0; off < data.length; off += 64 * 1024) {
    await new Promise((resolve) => setImmediate(resolve));
    yield data.subarray(off, off + 64 * 1024);
  }
}

describe('writeStream', () => {
  it('writes a small upload whole, with no early flush', async () => {
    const data = deterministicBytes(3 * MiB + 17, 1);
    const datasync = vi.spyOn(fh, 'datasync');
    await writeStream(fh, chunked(data));
    expect(datasync).not.toHaveBeenCalled();
    expect((await readFile(join(dir, 'blob'))).equals(data)).toBe(true);
  });

  it('flushes a large upload early, one flush at a time, and the file is whole', async () => {
    const data = deterministicBytes(100 * MiB + 5, 2);
    let inFlight = 0;
    let mostAtOnce = 0;
    const real = fh.datasync.bind(fh);
    const datasync = vi.spyOn(fh, 'datasync').mockImplementation(async () => {
      inFlight += 1;
      mostAtOnce = Math.max(mostAtOnce, inFlight);
      try {
        await real();
      } finally {
        inFlight -= 1;
      }
    });
    await writeStream(fh, chunked(data));
    // 100 MiB at one flush per 32 MiB written, never two at once; none left running.
    expect(datasync.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(datasync.mock.calls.length).toBeLessThanOrEqual(3);
    expect(mostAtOnce).toBe(1);
    expect(inFlight).toBe(0);
    expect((await readFile(join(dir, 'blob'))).equals(data)).toBe(true);
  });

  it('fails the write when an early flush fails (an I/O error must not be acknowledged)', async () => {
    const data = deterministicBytes(40 * MiB, 3);
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    vi.spyOn(fh, 'datasync').mockRejectedValue(eio);
    await expect(writeStream(fh, chunked(data))).rejects.toThrow(/EIO/);
  });
});
