// ByteStream Read's buffer pool: reuse, a bound on what it keeps, and its
// buffer size for a message size.
import { describe, expect, it } from 'vitest';
import { ReadBufferPool, readBufferBytes } from '../../src/daemon/read-buffers.js';

describe('ReadBufferPool', () => {
  it('hands back a buffer it was given, and a new one when none is free', () => {
    const pool = new ReadBufferPool(1024);
    const a = pool.take();
    expect(a.length).toBe(1024);
    pool.give(a);
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(a);
  });

  it('keeps at most 8 MiB of free buffers, and never one of another size', () => {
    const pool = new ReadBufferPool(1024 * 1024);
    const taken = Array.from({ length: 12 }, () => pool.take());
    for (const b of taken) pool.give(b);
    expect(pool.freeCount).toBe(8);
    pool.give(Buffer.alloc(10));
    expect(pool.freeCount).toBe(8);
  });

  it('sizes buffers as a whole number of messages, at least 256 KiB', () => {
    expect(readBufferBytes(64 * 1024)).toBe(256 * 1024);
    expect(readBufferBytes(100_000)).toBe(300_000);
    expect(readBufferBytes(1024 * 1024)).toBe(1024 * 1024);
  });
});
