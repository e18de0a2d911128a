// The `ops` control method and the stats/status shaping against the real
// SimpleScheduler (a ManualClock moves time; the scheduler's ScriptedWorker
// settles runs when the test says): three actions on a one-slot worker go
// through queued, executing and completed, and each answer says so.
import { afterEach, describe, expect, it } from 'vitest';
import { schedulerStats, schedulerStatus } from '../../src/daemon/control/execution.js';
import { opsMethod } from '../../src/daemon/control/ops.js';
import { SimpleScheduler } from '../../src/scheduler/simple-scheduler.js';
import { ManualClock } from '../../src/util/clock.js';
import { formatDigest } from '../../src/util/digest.js';
import { completion, jobRequest, okOutcome, ScriptedWorker, settle, simpleSpec } from '../scheduler/scripted-worker.js';

const open: SimpleScheduler[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('ops, status and stats over a real SimpleScheduler', () => {
  it('follow actions from queued through executing to completed, with waits and run times', async () => {
    const clock = new ManualClock(Date.parse('2026-12-06T08:00:00.000Z'));
    const scheduler = new SimpleScheduler({
      name: 'MAIN_SCHEDULER',
      spec: simpleSpec({ supported_platform_properties: { cpu_count: 'minimum' } }),
      clock,
      sweepIntervalMs: 0,
    });
    open.push(scheduler);
    const ctx = { schedulers: new Map([[scheduler.name, scheduler]]), clock };
    const worker = new ScriptedWorker('local', { slots: 1, properties: { cpu_count: ['2'] } });
    scheduler.addWorker(worker);

    const [a, b, c] = ['a', 'b', 'c'].map((key) => jobRequest(key));
    const handles = [a!, b!, c!].map((r) => scheduler.submit(r));
    clock.advance(30);
    worker.runs[0]!.control.onStage?.('executing');

    const first = await opsMethod({}, ctx);
    expect(first.schedulers).toEqual(['MAIN_SCHEDULER']);
    expect(first.operations.map((o) => [o.actionDigest, o.stage, o.workerStage, o.worker])).toEqual([
      [formatDigest(a!.actionDigest), 'executing', 'executing', 'local'],
      [formatDigest(b!.actionDigest), 'queued', null, null],
      [formatDigest(c!.actionDigest), 'queued', null, null],
    ]);
    expect(first.operations[0]).toMatchObject({ name: handles[0]!.name, queueWaitMs: 0, executionMs: 30 });
    expect(first.operations[1]).toMatchObject({ queueWaitMs: 30, executionMs: null, result: null });
    expect((await opsMethod({ stage: 'queued', limit: 1 }, ctx)).operations.map((o) => o.name)).toEqual([handles[1]!.name]);
    expect((await opsMethod({ stage: 'queued', limit: 1 }, ctx)).total).toBe(2);

    const status = schedulerStatus(scheduler.snapshot(), clock.now());
    expect(status).toMatchObject({ name: 'MAIN_SCHEDULER', queued: 2, executing: 1 });
    expect(status.workers).toEqual([
      expect.objectContaining({
        id: 'local',
        properties: { cpu_count: ['2'] },
        slots: 1,
        running: [{ operation: handles[0]!.name, actionDigest: formatDigest(a!.actionDigest), workerStage: 'executing', runningForMs: 30 }],
      }),
    ]);

    // The first ends with exit 1 (a failed action), the second runs 100 ms and succeeds.
    worker.runs[0]!.finish(okOutcome(1));
    await completion(handles[0]!);
    await settle();
    clock.advance(100);
    worker.runs[1]!.finish(okOutcome(0));
    await completion(handles[1]!);
    await settle();

    const later = await opsMethod({}, ctx);
    expect(later.operations.map((o) => [o.name, o.stage])).toEqual([
      [handles[2]!.name, 'executing'],
      [handles[1]!.name, 'completed'],
      [handles[0]!.name, 'completed'],
    ]);
    expect(later.operations[1]).toMatchObject({ queueWaitMs: 30, executionMs: 100, result: { status: 'OK', exitCode: 0, message: null } });
    expect(later.operations[2]!.result).toEqual({ status: 'OK', exitCode: 1, message: null });
    expect((await opsMethod({ stage: 'completed' }, ctx)).total).toBe(2);

    const stats = schedulerStats(scheduler.snapshot());
    expect(stats).toMatchObject({ workers: 1, slots: 1, queued: 0, executing: 1, submitted: 3, completed: 2, failed: 1, merged: 0 });
    expect(stats.queueWaitMs).toMatchObject({ count: 3, max: 130 });
    expect(stats.executionMs).toEqual({ count: 2, p50: 30, p90: 100, p99: 100, max: 100 });
  });
});
