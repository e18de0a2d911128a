// The full-length bad-input fuzz (docs/reliability.md "Bad input"): the same
// four families as test/reliability/fuzz-*.test.ts, thousands of cases each,
// with their own seeds. A failure prints its seed and case index; replay it
// with FUZZ_SEED=<seed> FUZZ_CASE=<index> on this file or the short one.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_SERVING } from '../../src/proto/reapi.js';
import { type ReapiClient, createReapiClient } from '../helpers/grpc-client.js';
import { fuzzSeed } from '../helpers/prng.js';
import { waitFor } from '../helpers/wait-for.js';
import { fuzzConfigFiles } from '../reliability/fuzz/config-files.js';
import { FUZZ_INSTANCE, type FuzzDaemon, filesUnder, openFds, rssBytes, startFuzzDaemon } from '../reliability/fuzz/fuzz-daemon.js';
import { fuzzHttp2Frames } from '../reliability/fuzz/http2-frames.js';
import { fuzzRawMessages, messageHints } from '../reliability/fuzz/raw-messages.js';
import { fuzzResourceNames, storeNameTargets } from '../reliability/fuzz/resource-names.js';
import { startSteadyClient } from '../reliability/fuzz/steady-client.js';

const MiB = 2 ** 20;

describe('bad input, full length, against one real daemon', () => {
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

  it('4,000 fuzzed resource names: clean statuses, nothing stored', async () => {
    const seed = fuzzSeed(21_001);
    const targets = await storeNameTargets(client, FUZZ_INSTANCE, seed);
    const casDir = join(fd.dataDir, 'cas', 'content');
    const before = await filesUnder(casDir);
    const tally = await fuzzResourceNames(client, targets, { seed, cases: 4000 });
    console.log(tally.summary());
    expect(await filesUnder(casDir)).toEqual(before);
    expect((await client.healthCheck('')).status).toBe(HEALTH_SERVING);
  });

  it('4,000 raw request messages over every RPC: clean statuses, Health after each batch', async () => {
    const seed = fuzzSeed(21_002);
    const tally = await fuzzRawMessages(fd.daemon.address, client, await messageHints(client, seed), { seed, cases: 4000 });
    console.log(tally.summary());
    expect(fd.daemon.running).toBe(true);
  });

  it('3,000 broken HTTP/2 connections beside a well-behaved client: it keeps working, RSS and open files bounded', async () => {
    const seed = fuzzSeed(21_003);
    const fdsBefore = await openFds(fd.daemon.pid);
    const rssBefore = rssBytes(fd.daemon.pid);
    const steady = startSteadyClient(client, FUZZ_INSTANCE);
    const tally = await fuzzHttp2Frames(fd.daemon.address, { seed, cases: 3000 }).finally(() => steady.stop());
    const work = await steady.stop();
    const rssAfter = rssBytes(fd.daemon.pid);
    console.log(tally.summary());
    console.log(
      `well-behaved client: ${work.rounds} rounds, ${work.errors.length} errors; daemon RSS ${(rssBefore / MiB).toFixed(0)} -> ${(rssAfter / MiB).toFixed(0)} MiB; open fds before ${fdsBefore}`,
    );
    expect(work.errors).toEqual([]);
    expect(fd.daemon.running).toBe(true);
    expect(rssAfter).toBeLessThan(rssBefore + 256 * MiB);
    await waitFor(async () => (await openFds(fd.daemon.pid)) <= fdsBefore + 2, {
      what: async () => `the daemon's open files to return to ${fdsBefore} (now ${await openFds(fd.daemon.pid)})`,
    });
  });
});

describe('bad input, full length, in process', () => {
  it('5,000 random config files: accepted or a ConfigError naming field paths', () => {
    const tally = fuzzConfigFiles({ seed: fuzzSeed(21_004), cases: 5000 });
    console.log(tally.summary());
    expect(tally.outcomes.get('accepted')).toBeGreaterThan(0);
  });
});
