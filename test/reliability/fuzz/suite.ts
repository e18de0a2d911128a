// The bad-input fuzz as test cases (docs/reliability.md "Bad input"), written
// once: the short forms in test/reliability/fuzz-*.test.ts and the full form in
// test/stress/fuzz.stress.test.ts differ only in case counts and seeds.
// Families 1-3 run against one real daemon per suite, family 4 in process.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_SERVING } from '../../../src/proto/reapi.js';
import { type ReapiClient, createReapiClient } from '../../helpers/grpc-client.js';
import { fuzzSeed } from '../../helpers/prng.js';
import { waitFor } from '../../helpers/wait-for.js';
import { fuzzConfigFiles } from './config-files.js';
import { FUZZ_INSTANCE, type FuzzDaemon, filesUnder, openFds, rssBytes, startFuzzDaemon } from './fuzz-daemon.js';
import { fuzzHttp2Frames } from './http2-frames.js';
import { fuzzRawMessages, messageHints } from './raw-messages.js';
import { fuzzResourceNames, storeNameTargets } from './resource-names.js';
import { startSteadyClient } from './steady-client.js';

const MiB = 2 ** 20;

/** Cases per family (a family left out does not run) and the seed base: family N uses fuzzSeed(seedBase + N). */
export interface FuzzScale {
  readonly seedBase: number;
  readonly resourceNames?: number;
  readonly rawMessages?: number;
  readonly http2Connections?: number;
  readonly configFiles?: number;
}

export function fuzzSuite(title: string, scale: FuzzScale): void {
  const daemonFamilies = [scale.resourceNames, scale.rawMessages, scale.http2Connections].some((n) => n !== undefined);
  if (daemonFamilies) describe(`${title}, against a real daemon`, () => daemonCases(scale));
  if (scale.configFiles !== undefined) describe(`${title}, in process`, () => configCases(scale.seedBase, scale.configFiles!));
}

function daemonCases(scale: FuzzScale): void {
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
  const serving = async () => {
    expect(fd.daemon.running).toBe(true);
    expect((await client.healthCheck('')).status).toBe(HEALTH_SERVING);
  };

  const names = scale.resourceNames;
  if (names !== undefined) {
    it(`${names} fuzzed ByteStream resource names: a clean status naming the problem, nothing stored`, async () => {
      const seed = fuzzSeed(scale.seedBase + 1);
      const targets = await storeNameTargets(client, FUZZ_INSTANCE, seed);
      const casDir = join(fd.dataDir, 'cas', 'content');
      const before = await filesUnder(casDir);
      const tally = await fuzzResourceNames(client, targets, { seed, cases: names });
      console.log(tally.summary());
      expect(tally.cases).toBeGreaterThan(0);
      expect(await filesUnder(casDir)).toEqual(before);
      await serving();
    });
  }

  const raw = scale.rawMessages;
  if (raw !== undefined) {
    it(`${raw} raw request messages over every RPC: a clean status each, Health after each batch`, async () => {
      const seed = fuzzSeed(scale.seedBase + 2);
      const tally = await fuzzRawMessages(fd.daemon.address, client, await messageHints(client, seed), { seed, cases: raw });
      console.log(tally.summary());
      expect(tally.cases).toBeGreaterThan(0);
      await serving();
    });
  }

  const connections = scale.http2Connections;
  if (connections !== undefined) {
    it(`${connections} broken HTTP/2 connections beside a well-behaved client: it keeps working, RSS and open files bounded`, async () => {
      const seed = fuzzSeed(scale.seedBase + 3);
      await client.healthCheck('');
      const fdsBefore = await openFds(fd.daemon.pid);
      const rssBefore = rssBytes(fd.daemon.pid);
      const steady = startSteadyClient(client, FUZZ_INSTANCE);
      const tally = await fuzzHttp2Frames(fd.daemon.address, { seed, cases: connections }).finally(() => steady.stop());
      const work = await steady.stop();
      const rssAfter = rssBytes(fd.daemon.pid);
      console.log(tally.summary());
      console.log(
        `well-behaved client: ${work.rounds} rounds, ${work.errors.length} errors; daemon RSS ${(rssBefore / MiB).toFixed(0)} -> ${(rssAfter / MiB).toFixed(0)} MiB; open fds before ${fdsBefore}`,
      );
      expect(work.errors).toEqual([]);
      expect(work.rounds).toBeGreaterThan(0);
      expect(fd.daemon.running).toBe(true);
      expect(rssAfter).toBeLessThan(rssBefore + 256 * MiB);
      // Every dropped connection's socket is released.
      await waitFor(async () => (await openFds(fd.daemon.pid)) <= fdsBefore + 2, {
        what: async () => `the daemon's open files to return to ${fdsBefore} (now ${await openFds(fd.daemon.pid)})`,
      });
    });
  }
}

function configCases(seedBase: number, cases: number): void {
  it(`${cases} random config files: accepted, or a ConfigError naming field paths, never anything else`, () => {
    const tally = fuzzConfigFiles({ seed: fuzzSeed(seedBase + 4), cases });
    console.log(tally.summary());
    expect(tally.outcomes.get('accepted')).toBeGreaterThan(0);
    expect(tally.outcomes.get('ConfigError')).toBeGreaterThan(0);
  });
}
