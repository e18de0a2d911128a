// Full form of test/stores/grpc-large-blob.test.ts: a 4 GiB blob up to a
// cluster daemon and back through the grpc store, with memory far below it.
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { largeBlobRoundTrip } from '../stores/grpc-large-blob.js';

const cleanups = cleanupsAfterEach();
const MIB = 1024 * 1024;

describe('grpc store with a 4 GiB blob', () => {
  it('streams it up and back without holding it', async () => {
    const report = await largeBlobRoundTrip(4096 * MIB, cleanups);
    console.log(`grpc store, 4 GiB blob: peak RSS growth upload ${(report.uploadPeakBytes / MIB).toFixed(0)} MiB, read ${(report.readPeakBytes / MIB).toFixed(0)} MiB`);
    expect(report.readBackMatches).toBe(true);
    expect(report.uploadPeakBytes).toBeLessThan(256 * MIB);
    expect(report.readPeakBytes).toBeLessThan(256 * MIB);
  });
});
