// Short form of the broken-HTTP/2 fuzz (family 3 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReapiClient, type ReapiClient } from '../helpers/grpc-client.js';
import { fuzzSeed } from '../helpers/prng.js';
import { waitFor } from '../helpers/wait-for.js';
import { FUZZ_INSTANCE, type FuzzDaemon, openFds, rssBytes, startFuzzDaemon } from './fuzz/fuzz-daemon.js';
import { fuzzHttp2Frames } from './fuzz/http2-frames.js';
import { startSteadyClient } from './fuzz/steady-client.js';

describe('truncated and corrupt HTTP/2 against a real daemon', () => {
  let fd: FuzzDaemon;
  let client: ReapiClient;
  beforeAll(async () => {
    fd = await startFuzzDaemon();
    client = createReapiClient(fd.daemon.address);
  });
  afterAll(async () => {
    client?.close();
    await fd?.stop();
  });

  it('drops each broken connection and keeps serving a well-behaved client, with RSS and open files bounded', async () => {
    const seed = fuzzSeed(11_003);
    await client.healthCheck('');
    const fdsBefore = await openFds(fd.daemon.pid);
    const rssBefore = rssBytes(fd.daemon.pid);
    const steady = startSteadyClient(client, FUZZ_INSTANCE);
    const tally = await fuzzHttp2Frames(fd.daemon.address, { seed, cases: 400 }).finally(() => steady.stop());
    const work = await steady.stop();
    const rssAfter = rssBytes(fd.daemon.pid);
    console.log(tally.summary());
    console.log(`well-behaved client: ${work.rounds} rounds, ${work.errors.length} errors; daemon RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB; fds before ${fdsBefore}`);
    expect(work.errors).toEqual([]);
    expect(work.rounds).toBeGreaterThan(0);
    expect(fd.daemon.running).toBe(true);
    expect(rssAfter).toBeLessThan(rssBefore + 256 * 2 ** 20);
    // Every dropped connection's socket is released.
    await waitFor(async () => (await openFds(fd.daemon.pid)) <= fdsBefore + 2, {
      what: async () => `the daemon's open files to return to ${fdsBefore} (now ${await openFds(fd.daemon.pid)})`,
    });
  });
});
