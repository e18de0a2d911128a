// NativeLink's cache_lookup in front of a real SimpleScheduler: real memory
// stores for the AC and CAS, the AC checked for completeness as
// GetActionResult checks it (src/daemon/cached-result.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { cachedSuccessIn } from '../../src/daemon/cached-result.js';
import { ActionResultCodec, type MessageInit, type ActionResult } from '../../src/proto/reapi.js';
import { CacheLookupScheduler, type CachedResultLookup } from '../../src/scheduler/cache-lookup-scheduler.js';
import type { JobRequest } from '../../src/scheduler/job.js';
import { Code } from '../../src/scheduler/outcomes.js';
import { SimpleScheduler } from '../../src/scheduler/simple-scheduler.js';
import { CompletenessCheckingStore } from '../../src/stores/completeness-checking-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { putBuffer } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { NcacheError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { completion, jobRequest, ScriptedWorker, settle, simpleSpec } from './scripted-worker.js';

const open: CacheLookupScheduler[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function build(lookupOverride?: CachedResultLookup) {
  const cas = new MemoryStore();
  const ac = new CompletenessCheckingStore(new MemoryStore(), cas, { logger: silentLogger });
  const lookups: JobRequest[] = [];
  const lookup: CachedResultLookup = (request) => {
    lookups.push(request);
    return lookupOverride ? lookupOverride(request) : cachedSuccessIn(ac, cas, request, silentLogger);
  };
  const clock = new ManualClock();
  const inner = new SimpleScheduler({ name: 'MAIN', spec: simpleSpec(), clock, sweepIntervalMs: 0 });
  const s = new CacheLookupScheduler({ name: 'MAIN', lookup, inner, clock });
  open.push(s);
  const worker = new ScriptedWorker('w1', { slots: 4 });
  s.addWorker(worker);
  return { s, inner, cas, ac, worker, lookups, clock };
}

async function cacheResult(ac: MemoryStore | CompletenessCheckingStore, request: JobRequest, result: MessageInit<ActionResult>): Promise<void> {
  await putBuffer(ac, request.actionDigest, ActionResultCodec.encode(result));
}

describe('CacheLookupScheduler', () => {
  it('a hit is answered from the ac_store (cached_result), nothing reaches the nested scheduler', async () => {
    const { s, inner, cas, ac, worker } = build();
    const output = Buffer.from('output bytes');
    const outputDigest = digestOf(output);
    await putBuffer(cas, outputDigest, output);
    const request = jobRequest('hit');
    await cacheResult(ac, request, { exitCode: 0, outputFiles: [{ path: 'out', digest: outputDigest }] });

    const handle = s.submit(request);
    expect(handle.current().stage).toBe('queued');
    const done = await completion(handle);
    expect(done.name).toBe(handle.name);
    expect(done.outcome).toMatchObject({ cachedResult: true, status: { code: Code.OK }, result: { exitCode: 0, outputFiles: [{ path: 'out', digest: outputDigest }] } });
    expect(worker.runs).toHaveLength(0);
    expect(inner.snapshot().counters.submitted).toBe(0);
    // WaitExecution finds what the scheduler answered itself.
    expect(s.find(handle.name)?.current().stage).toBe('completed');
    expect(s.snapshot()).toMatchObject({ kinds: ['cache_lookup', 'simple'], counters: { submitted: 1, completed: 1, failed: 0 } });
  });

  it('a result whose output left the CAS is no hit (the completeness rule GetActionResult uses), nor is a failed one', async () => {
    const { s, ac, worker } = build();
    const incomplete = jobRequest('incomplete');
    await cacheResult(ac, incomplete, { exitCode: 0, outputFiles: [{ path: 'out', digest: digestOf(Buffer.from('gone')) }] });
    const failed = jobRequest('failed');
    await cacheResult(ac, failed, { exitCode: 2 });

    const handles = [s.submit(incomplete), s.submit(failed)];
    await waitForRuns(worker, 2);
    for (const run of worker.runs) run.finish();
    for (const handle of handles) expect((await completion(handle)).outcome?.cachedResult).toBeUndefined();
  });

  it('a miss runs on the nested scheduler under the name first handed out, which WaitExecution finds', async () => {
    const { s, worker } = build();
    const handle = s.submit(jobRequest('miss'));
    const states: string[] = [];
    handle.watch((state) => states.push(`${state.name === handle.name ? 'same' : 'other'}:${state.stage}`));
    await waitForRuns(worker, 1);
    expect(handle.current()).toMatchObject({ name: handle.name, stage: 'executing', worker: 'w1' });
    expect(s.find(handle.name)?.current().stage).toBe('executing');
    worker.runs[0]!.finish();
    const done = await completion(handle);
    expect(done).toMatchObject({ name: handle.name, stage: 'completed' });
    expect(states).toEqual(['same:executing', 'same:completed']);
  });

  it('identical actions submitted during one lookup share it and one nested operation', async () => {
    const { s, worker, lookups } = build();
    const a = s.submit(jobRequest('same'));
    const b = s.submit(jobRequest('same'));
    expect(b).toBe(a);
    expect(lookups).toHaveLength(1);
    await waitForRuns(worker, 1);
    worker.runs[0]!.finish();
    await completion(a);
    expect(worker.runs).toHaveLength(1);
    expect(s.snapshot().counters).toMatchObject({ submitted: 2, merged: 1, completed: 1 });
  });

  it('do_not_cache and skip_cache_lookup actions are not looked up', async () => {
    const { s, worker, lookups } = build();
    s.submit(jobRequest('uncacheable', { doNotCache: true }));
    s.submit({ ...jobRequest('skipped'), skipCacheLookup: true });
    expect(lookups).toHaveLength(0);
    expect(worker.runs).toHaveLength(2);
  });

  it('a lookup that fails (not a miss) fails the operation with its code, naming the scheduler and the action', async () => {
    const { s, worker } = build(() => Promise.reject(new NcacheError('UNAVAILABLE', 'the AC disk went away')));
    const request = jobRequest('broken');
    const done = await completion(s.submit(request));
    expect(done.outcome?.status.code).toBe(Code.UNAVAILABLE);
    expect(done.outcome?.message).toMatch(/^scheduler "MAIN": looking action [0-9a-f]{64}\/\d+ up in its ac_store: the AC disk went away$/);
    expect(worker.runs).toHaveLength(0);
    expect(s.snapshot().counters).toMatchObject({ completed: 1, failed: 1 });
  });

  it('close fails a lookup still in flight with UNAVAILABLE', async () => {
    let release: () => void = () => {};
    const { s } = build(() => new Promise((resolve) => (release = () => resolve(undefined))));
    const handle = s.submit(jobRequest('slow'));
    await s.close();
    expect(handle.current()).toMatchObject({ stage: 'completed', outcome: { status: { code: Code.UNAVAILABLE } } });
    release();
  });
});

async function waitForRuns(worker: ScriptedWorker, n: number): Promise<void> {
  for (let i = 0; i < 100 && worker.runs.length < n; i++) await settle();
  expect(worker.runs).toHaveLength(n);
}
