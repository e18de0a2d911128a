// Short form of the raw-message fuzz (family 2 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_SERVING } from '../../src/proto/reapi.js';
import { type ReapiClient, createReapiClient } from '../helpers/grpc-client.js';
import { fuzzSeed } from '../helpers/prng.js';
import { type FuzzDaemon, startFuzzDaemon } from './fuzz/fuzz-daemon.js';
import { fuzzRawMessages, messageHints } from './fuzz/raw-messages.js';

describe('random bytes as the request of every RPC of a real daemon', () => {
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

  it('answers each with a clean status and keeps serving', async () => {
    const seed = fuzzSeed(11_002);
    const tally = await fuzzRawMessages(fd.daemon.address, client, await messageHints(client, seed), { seed, cases: 700 });
    console.log(tally.summary());
    expect(tally.cases).toBeGreaterThan(0);
    expect(fd.daemon.running).toBe(true);
    expect((await client.healthCheck('')).status).toBe(HEALTH_SERVING);
  });
});
