// Real Bazel (4.2.3) against a daemon whose gRPC listener also serves
// Prometheus metrics: scrapes of the same port while Bazel builds answer, and
// the counters move by exactly what Bazel reports: a cold build looks up
// every cacheable action (misses) and stores each result; after `bazel clean`
// the warm build's remote cache hits are the action-cache hits counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BazelWorkspace, type BazelRun } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun } from '../helpers/bazel-gate.js';
import { DaemonFixture, type DaemonProcess } from '../helpers/daemon-process.js';
import { type Scrape, scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait-for.js';

const bazel = bazelOrSkip('test/e2e/bazel-prometheus.test.ts', 'Bazel with Prometheus scrapes');
const STEP_TIMEOUT = 10 * 60_000;

const ac = (method: string, more: Record<string, string> = {}) => ({ service: 'ac', method, ...more });

describe.skipIf(!bazel)('Bazel 4.2.3 with a listener that serves Prometheus metrics', () => {
  let daemons: DaemonFixture;
  let daemon: DaemonProcess;
  let ws: BazelWorkspace;
  let metricsUrl: string;
  let cold: BazelRun;

  beforeAll(async () => {
    ws = await BazelWorkspace.create({ fixture: 'bazel-workspace' });
    daemons = await DaemonFixture.create({ prometheus: { path: '/metrics' } });
    daemon = await daemons.start();
    metricsUrl = `http://${daemon.address}/metrics`;
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await daemons?.cleanup();
    await ws?.cleanup();
  }, STEP_TIMEOUT);

  /** Runs Bazel, scraping until a scrape taken while it still runs shows cache calls; returns the run and that scrape. */
  async function buildWhileScraping(before: Scrape): Promise<{ run: BazelRun; during: Scrape; duringBuild: boolean }> {
    let finished = false;
    const running = ws.run('test', [`--remote_cache=${daemon.url}`, '//...'], { executionLog: true }).finally(() => (finished = true));
    const during = await waitFor(
      async () => {
        const s = await scrape(metricsUrl);
        const calls = s.value('ncache_requests_total', { service: 'cas' }) + s.value('ncache_requests_total', { service: 'ac' });
        const callsBefore = before.value('ncache_requests_total', { service: 'cas' }) + before.value('ncache_requests_total', { service: 'ac' });
        return (calls > callsBefore || finished) && { scrape: s, duringBuild: !finished };
      },
      { what: 'a scrape showing cache calls', timeoutMs: STEP_TIMEOUT, intervalMs: 200 },
    );
    return { run: await running, during: during.scrape, duringBuild: during.duringBuild };
  }

  it(
    'cold build: a scrape during it answers; every cacheable action was one action-cache miss and one stored result',
    async () => {
      const before = await scrape(metricsUrl);
      const { run, during, duringBuild } = await buildWhileScraping(before);
      cold = run;
      expect(duringBuild, `the build ended before a scrape saw its calls\n${describeRun(run)}`).toBe(true);
      expect(during.value('ncache_requests_total', { service: 'capabilities', method: 'GetCapabilities', code: 'OK' })).toBeGreaterThan(0);
      const after = await scrape(metricsUrl);
      const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
      const spawns = cacheable(run.spawns!);
      expect(run.summary?.remoteCacheHits, describeRun(run)).toBe(0);
      expect(delta('ncache_lookups_total', ac('GetActionResult', { result: 'miss' }))).toBe(spawns.length);
      expect(delta('ncache_lookups_total', ac('GetActionResult', { result: 'hit' }))).toBe(0);
      expect(delta('ncache_requests_total', ac('UpdateActionResult', { code: 'OK' }))).toBe(spawns.length);
      expect(delta('ncache_requests_total', { service: 'bytestream', method: 'Write', code: 'OK' })).toBeGreaterThan(0);
      // The CAS's filesystem tier (behind verify) now holds what was uploaded.
      expect(after.value('ncache_store_entries', { store: 'CAS', path: 'CAS.verify.backend', kind: 'filesystem' })).toBeGreaterThan(0);
    },
    STEP_TIMEOUT,
  );

  it(
    'after bazel clean, the warm build: its remote cache hits are exactly the action-cache hits counted',
    async () => {
      await ws.run('clean');
      const before = await scrape(metricsUrl);
      const { run } = await buildWhileScraping(before);
      const after = await scrape(metricsUrl);
      const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
      expect(run.summary?.executed, describeRun(run)).toBe(0);
      expect(run.summary?.remoteCacheHits, describeRun(run)).toBe(cacheable(cold.spawns!).length);
      expect(delta('ncache_lookups_total', ac('GetActionResult', { result: 'hit' }))).toBe(run.summary!.remoteCacheHits);
      expect(delta('ncache_lookups_total', ac('GetActionResult', { result: 'miss' }))).toBe(0);
      expect(delta('ncache_requests_total', ac('UpdateActionResult'))).toBe(0);
    },
    STEP_TIMEOUT,
  );
});
