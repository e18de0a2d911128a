// Execution in the Prometheus scrape: a real daemon with a scheduler and a
// local worker runs real actions sent by a grpc-js client, and the scrape of
// the same port shows the scheduler's counters, its queue-wait and run-time
// histograms, the Execution service's own answers and the worker's stores.
import { afterEach, describe, expect, it } from 'vitest';
import { scrape } from '../helpers/prometheus.js';
import { finalResponse, uploadAction } from './execution-helpers.js';
import { type Fixture, startFixture } from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

describe('experimental_prometheus with remote execution', () => {
  it('counts the actions run, failed and answered from the cache, with their queue-wait and run-time histograms', async () => {
    const f = (fixture = await startFixture({
      execution: true,
      worker: {},
      storeKind: 'filesystem',
      edit: (c) => (c.servers[0]!.services.experimental_prometheus = { path: '/metrics' }),
    }));
    const url = `http://${f.address}/metrics`;
    const before = await scrape(url);
    const ok = await uploadAction(f.client, { args: ['sh', '-c', 'echo hello'], salt: 'prometheus-ok' });
    const failing = await uploadAction(f.client, { args: ['sh', '-c', 'exit 3'], salt: 'prometheus-failing' });
    expect(finalResponse(await f.client.execute({ actionDigest: ok.actionDigest })).response.result?.exitCode).toBe(0);
    expect(finalResponse(await f.client.execute({ actionDigest: failing.actionDigest })).response.result?.exitCode).toBe(3);
    expect(finalResponse(await f.client.execute({ actionDigest: ok.actionDigest })).response.cachedResult).toBe(true);
    const after = await scrape(url);
    const delta = (name: string, labels: Record<string, string> = {}) => after.value(name, labels) - before.value(name, labels);
    const main = { scheduler: 'MAIN' };

    expect(delta('ncache_execute_requests_total')).toBe(3);
    expect(delta('ncache_execute_cache_hits_total')).toBe(1);
    expect(delta('ncache_execute_queued_total')).toBe(2);
    expect(delta('ncache_execution_submitted_total', main)).toBe(2);
    expect(delta('ncache_execution_completed_total', main)).toBe(2);
    expect(delta('ncache_execution_failed_total', main)).toBe(1);
    expect(after.histogramCount('ncache_execution_queue_wait_seconds', main) - before.histogramCount('ncache_execution_queue_wait_seconds', main)).toBe(2);
    expect(after.histogramCount('ncache_execution_run_seconds', main) - before.histogramCount('ncache_execution_run_seconds', main)).toBe(2);
    expect(after.value('ncache_execution_workers', main)).toBe(1);
    expect(after.value('ncache_execution_slots', main)).toBeGreaterThanOrEqual(1);
    expect(after.value('ncache_execution_queued', main)).toBe(0);
    expect(after.value('ncache_execution_running', main)).toBe(0);
    expect(delta('ncache_requests_total', { service: 'execution', method: 'Execute', code: 'OK' })).toBe(3);
    // The worker's fast_slow store and its fast tier, labelled as such.
    expect(after.samples('ncache_fast_slow_reads_total', { store: 'WORKER_CAS', path: 'WORKER_CAS', kind: 'fast_slow' })).toHaveLength(3);
    expect(after.samples('ncache_store_entries', { store: 'WORKER_CAS', kind: 'filesystem', tier: 'fast' })).toHaveLength(1);
  });
});
