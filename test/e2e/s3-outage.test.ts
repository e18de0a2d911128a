// S3 down, end to end with real parts (Bazel 4.2.3, `ncache serve` child
// processes, s3rver behind the fault proxy in 'down' mode, the real AWS SDK):
//
// - a cold build during the outage succeeds (every action runs locally, its
//   uploads acknowledged by the fast tier); once S3 is back, the daemon still
//   running delivers what it owes, and every object hashes to its name;
// - the same, but the daemon is SIGKILLed with the uploads still owed; a
//   restart on the same state dir and fast tier delivers them, and a second
//   daemon with an empty fast tier then gets every action from S3 as a hit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BazelRun, BazelWorkspace } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, outputNames } from '../helpers/bazel-gate.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import {
  bucketClient,
  listObjects,
  stopAndCheckFlushed,
  unfinishedMultipartUploads,
  verifyObjects,
} from '../helpers/s3-daemon.js';
import type { S3rverHandle } from '../helpers/s3rver.js';
import { S3World } from '../helpers/s3-world.js';
import { waitFor } from '../helpers/wait-for.js';

const bazel = bazelOrSkip('test/e2e/s3-outage.test.ts', 'S3 outage end to end');
const STEP_TIMEOUT = 12 * 60_000;
/**
 * A bound on waiting for owed uploads after S3 returns: write-behind pauses
 * between attempts while S3 is down, at most 5 min (+25% jitter), and the
 * first attempt after the outage comes when the current pause ends.
 */
const DELIVERY_BOUND_MS = 7 * 60_000;


describe.skipIf(!bazel)('builds while S3 is down (real Bazel, s3rver, fault proxy)', () => {
  let world: S3World;
  let s3: S3rverHandle;
  let proxy: FaultProxy;
  let ws: BazelWorkspace;
  const laptop = (keyPrefix: string) => world.laptop(keyPrefix);

  beforeAll(async () => {
    world = await S3World.start('ncache-outage');
    ({ s3, proxy, ws } = world);
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await world?.cleanup();
  }, STEP_TIMEOUT);

  /** Waits until the bucket holds every output of `cold` and one action result per cacheable action. */
  async function waitForDelivery(prefix: string, cold: BazelRun): Promise<void> {
    const client = bucketClient(s3.endpoint);
    const wanted = outputNames(cold);
    const acWanted = cacheable(cold.spawns!).length;
    const missing = async () => {
      const cas = new Set((await listObjects(client, s3.bucket, `${prefix}cas/`)).map((o) => o.key.slice(`${prefix}cas/`.length)));
      const ac = (await listObjects(client, s3.bucket, `${prefix}ac/`)).length;
      return { cas: [...wanted].filter((n) => !cas.has(n)), ac: Math.max(0, acWanted - ac) };
    };
    const started = Date.now();
    await waitFor(
      async () => {
        const m = await missing();
        return m.cas.length === 0 && m.ac === 0;
      },
      {
        what: async () => `the owed uploads; still missing in the bucket: ${JSON.stringify(await missing())}`,
        timeoutMs: DELIVERY_BOUND_MS,
        // A pause between listings so the poll does not spin s3rver.
        intervalMs: 250,
      },
    );
    console.log(`[s3 e2e] owed uploads arrived ${Date.now() - started} ms after S3 came back`);
    // Nothing partial or corrupt: every object hashes to its name.
    const verified = await verifyObjects(client, s3.bucket, `${prefix}cas/`);
    expect(verified.bad).toEqual([]);
    expect(verified.checked).toBeGreaterThanOrEqual(wanted.size);
    expect(unfinishedMultipartUploads(proxy.requests)).toEqual([]);
    client.destroy();
  }

  it(
    'a cold build during the outage succeeds locally; its uploads arrive once S3 is back',
    async () => {
      const prefix = 'outage/';
      const c = await laptop(prefix);
      const daemon = await c.start();
      proxy.resetCounts();
      proxy.setDown(true);
      await ws.run('clean');
      const cold = await ws.run('test', [`--remote_cache=${daemon.url}`, '//...'], { executionLog: true });
      // Bazel got no hit and ran everything here, and the build (and the test) passed.
      expect(cold.summary?.remoteCacheHits, describeRun(cold)).toBe(0);
      expect(cold.summary?.executed, describeRun(cold)).toBe(cacheable(cold.spawns!).length);
      expect(cold.stdout + cold.stderr).toMatch(/\/\/:outputs_test\s+PASSED/);
      // The daemon acknowledged the uploads (they went to its fast tier): Bazel reports no failed write.
      expect(cold.stderr, describeRun(cold)).not.toMatch(/Writing to Remote Cache/);
      // Lookups were answered as misses, not errors: an UNAVAILABLE makes Bazel retry each
      // action-cache lookup with backoff, seconds per action, far from local speed.
      expect(cold.stderr, describeRun(cold)).not.toMatch(/Reading from Remote Cache/);
      // The daemon did try S3 and was refused (the proxy resets connections before any request is read).
      expect(daemon.stderr()).toMatch(/to the slow tier failed/);
      console.log(`[s3 e2e] cold build during the outage: ${Math.round(cold.elapsedMs)} ms (${cold.summary?.line})`);
      // Nothing got through while it was down.
      expect(await listObjects(bucketClient(s3.endpoint), s3.bucket, prefix)).toEqual([]);

      proxy.setDown(false);
      await waitForDelivery(prefix, cold);
      const stopped = await stopAndCheckFlushed(daemon);
      expect(stopped, daemon.stderr()).toEqual({ exitCode: 0, stillOwed: [] });
    },
    STEP_TIMEOUT,
  );

  it(
    'SIGKILL with uploads owed: a restart on the same state and fast tier delivers them; another daemon then gets all hits',
    async () => {
      const prefix = 'killed/';
      const c = await laptop(prefix);
      let daemon = await c.start();
      proxy.setDown(true);
      await ws.run('clean');
      const cold = await ws.run('test', [`--remote_cache=${daemon.url}`, '//...'], { executionLog: true });
      expect(cold.summary?.executed, describeRun(cold)).toBe(cacheable(cold.spawns!).length);
      expect(cold.stderr, describeRun(cold)).not.toMatch(/Writing to Remote Cache/);

      process.kill(daemon.pid, 'SIGKILL');
      expect((await daemon.exited).signal).toBe('SIGKILL');
      proxy.setDown(false);
      proxy.resetCounts();
      expect(await listObjects(bucketClient(s3.endpoint), s3.bucket, prefix)).toEqual([]);

      // Same fixture: same fast tier, same NCACHE_STATE_DIR (the catalog's journal).
      daemon = await c.start();
      await waitForDelivery(prefix, cold);
      expect(daemon.stderr()).toMatch(/fast_slow CAS\S*: resuming \d+ uploads/);
      expect(daemon.stderr()).toMatch(/fast_slow AC\S*: resuming \d+ uploads/);
      const stopped = await stopAndCheckFlushed(daemon);
      expect(stopped, daemon.stderr()).toEqual({ exitCode: 0, stillOwed: [] });

      // What arrived is usable: a daemon with an empty fast tier serves every action from S3.
      const other = await (await laptop(prefix)).start();
      await ws.run('clean');
      const warm = await ws.run('test', [`--remote_cache=${other.url}`, '//...'], { executionLog: true });
      expect(warm.summary?.executed, describeRun(warm)).toBe(0);
      expect(warm.summary?.remoteCacheHits, describeRun(warm)).toBe(cacheable(cold.spawns!).length);
      expect(warm.stdout + warm.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);
      await stopAndCheckFlushed(other);
    },
    STEP_TIMEOUT,
  );
});
