// Short form of the large-blob check (the 4 GiB form is
// test/stress/grpc-large-blob.stress.test.ts): a 128 MiB blob up to a cluster
// and back through the grpc store costs far less memory than the blob.
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { largeBlobRoundTrip } from './grpc-large-blob.js';

const cleanups = cleanupsAfterEach();
const MIB = 1024 * 1024;

describe('grpc store with a large blob', () => {
  it('streams 128 MiB up and back without holding it', async () => {
    const report = await largeBlobRoundTrip(128 * MIB, cleanups);
    console.log(`grpc store, 128 MiB blob: peak RSS growth upload ${(report.uploadPeakBytes / MIB).toFixed(0)} MiB, read ${(report.readPeakBytes / MIB).toFixed(0)} MiB`);
    expect(report.readBackMatches).toBe(true);
    expect(report.uploadPeakBytes).toBeLessThan(96 * MIB);
    expect(report.readPeakBytes).toBeLessThan(96 * MIB);
  }, 120_000);
});
