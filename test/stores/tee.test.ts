import { describe, expect, it } from 'vitest';
import type { ByteStream } from '../../src/stores/store.js';
import { teeStream } from '../../src/stores/tee.js';
import { collect } from '../helpers/streams.js';

function counted(chunks: number, chunkSize: number) {
  const state = { pulled: 0, returned: false };
  async function* gen(): ByteStream {
    try {
      for (let i = 0; i < chunks; i++) {
        state.pulled += 1;
        yield Buffer.alloc(chunkSize, i & 0xff);
      }
    } finally {
      state.returned = true;
    }
  }
  return { stream: gen(), state };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('teeStream', () => {
  it('gives every branch the same bytes', async () => {
    const { stream } = counted(10, 1000);
    const tee = teeStream(stream, 3);
    const [a, b, c] = await Promise.all(tee.branches.map(collect));
    expect(a!.length).toBe(10_000);
    expect(a!.equals(b!)).toBe(true);
    expect(a!.equals(c!)).toBe(true);
  });

  it('stops pulling when a branch falls behind by the high-water mark', async () => {
    const { stream, state } = counted(1000, 1000);
    const tee = teeStream(stream, 2, 10_000);
    const [fast, slow] = tee.branches;
    const fastDone = collect(fast!);
    for (let i = 0; i < 20; i++) await tick();
    // The unread branch holds at most the mark (plus the chunk that crossed it).
    expect(state.pulled).toBeLessThanOrEqual(11);
    expect(state.pulled).toBeGreaterThanOrEqual(10);
    const slowDone = collect(slow!);
    expect((await fastDone).length).toBe(1_000_000);
    expect((await slowDone).length).toBe(1_000_000);
  });

  it('lets a branch detach without holding back the others', async () => {
    const { stream, state } = counted(100, 1000);
    const tee = teeStream(stream, 2, 5000);
    const [keep, leave] = tee.branches;
    await leave!.return!();
    expect((await collect(keep!)).length).toBe(100_000);
    expect(state.pulled).toBe(100);
  });

  it('releases the source when every branch detaches', async () => {
    const { stream, state } = counted(100, 1000);
    const tee = teeStream(stream, 2, 5000);
    const [a, b] = tee.branches;
    await a!.next();
    await a!.return!();
    await b!.return!();
    for (let i = 0; i < 5; i++) await tick();
    expect(state.returned).toBe(true);
    expect(state.pulled).toBeLessThan(100);
  });

  it('fails every branch when the source fails', async () => {
    async function* broken(): ByteStream {
      yield Buffer.from('abc');
      throw new Error('source broke');
    }
    const tee = teeStream(broken(), 2);
    const results = await Promise.allSettled(tee.branches.map(collect));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('abort() fails the branches and releases the source', async () => {
    const { stream, state } = counted(100, 1000);
    const tee = teeStream(stream, 2, 5000);
    const [a, b] = tee.branches;
    await a!.next();
    tee.abort(new Error('other side failed'));
    await expect(b!.next()).rejects.toThrow('other side failed');
    await expect(a!.next()).rejects.toThrow('other side failed');
    for (let i = 0; i < 5; i++) await tick();
    expect(state.returned).toBe(true);
  });
});
