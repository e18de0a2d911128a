import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('returns the first value that is neither undefined nor false', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? `ready after ${calls}` : undefined), { what: 'three calls', intervalMs: 0 });
    expect(value).toBe('ready after 3');
    expect(await waitFor(async () => 0, { what: 'a zero' })).toBe(0);
  });

  it('gives up after timeoutMs, naming what it waited for', async () => {
    await expect(waitFor(() => false, { what: 'the moon', timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(
      'timed out after 30 ms waiting for the moon',
    );
  });

  it('describes the state at the deadline when `what` is a function', async () => {
    let seen = 0;
    await expect(
      waitFor(
        () => {
          seen++;
          return undefined;
        },
        { what: () => `a value; checked ${seen} times`, timeoutMs: 20, intervalMs: 5 },
      ),
    ).rejects.toThrow(/^timed out after 20 ms waiting for a value; checked \d+ times$/);
  });
});
