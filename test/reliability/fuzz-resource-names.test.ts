// Short form of the resource-name fuzz (family 1 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_SERVING } from '../../src/proto/reapi.js';
import { type ReapiClient, createReapiClient } from '../helpers/grpc-client.js';
import { fuzzSeed } from '../helpers/prng.js';
import { FUZZ_INSTANCE, type FuzzDaemon, filesUnder, startFuzzDaemon } from './fuzz/fuzz-daemon.js';
import { fuzzResourceNames, storeNameTargets } from './fuzz/resource-names.js';

describe('fuzzed ByteStream resource names against a real daemon', () => {
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

  it('answers every Read, Write and QueryWriteStatus with a clean status naming the problem, and stores nothing', async () => {
    const seed = fuzzSeed(11_001);
    const targets = await storeNameTargets(client, FUZZ_INSTANCE, seed);
    const casDir = join(fd.dataDir, 'cas', 'content');
    const before = await filesUnder(casDir);
    const tally = await fuzzResourceNames(client, targets, { seed, cases: 600 });
    console.log(tally.summary());
    expect(tally.cases).toBeGreaterThan(0);
    expect(await filesUnder(casDir)).toEqual(before);
    expect(fd.daemon.running).toBe(true);
    expect((await client.healthCheck('')).status).toBe(HEALTH_SERVING);
  });
});
