// What status, stats and ops make of a scheduler's snapshot
// (src/daemon/control/execution.ts, percentiles.ts) and how the CLI prints
// it: one snapshot with a queued, an executing and two completed operations.
import { describe, expect, it } from 'vitest';
import { formatOps } from '../../src/commands/ops/view.js';
import { buildStatsModel, renderStatsText } from '../../src/commands/stats/model.js';
import { formatStatus } from '../../src/commands/status/view.js';
import { operationRows, schedulerStats, schedulerStatus } from '../../src/daemon/control/execution.js';
import { percentiles } from '../../src/daemon/control/percentiles.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import type { StatusResult } from '../../src/daemon/control/status.js';
import type { ActionResult } from '../../src/proto/reapi.js';
import type { OperationState, SchedulerSnapshot } from '../../src/scheduler/scheduler.js';

const NOW = Date.parse('2026-12-06T08:00:10.000Z');
const digest = (c: string, size: number) => ({ hash: c.repeat(64), sizeBytes: size });
const result = (exitCode: number): ActionResult => ({
  outputFiles: [],
  outputFileSymlinks: [],
  outputSymlinks: [],
  outputDirectories: [],
  outputDirectorySymlinks: [],
  exitCode,
  stdoutRaw: Buffer.alloc(0),
  stdoutDigest: null,
  stderrRaw: Buffer.alloc(0),
  stderrDigest: null,
  executionMetadata: null,
});

const queued: OperationState = { name: 'operations/q', instanceName: '', actionDigest: digest('a', 140), stage: 'queued', queuedAtMs: NOW - 2000 };
const executing: OperationState = {
  name: 'operations/e',
  instanceName: '',
  actionDigest: digest('b', 141),
  stage: 'executing',
  workerStage: 'fetching_inputs',
  worker: 'local',
  queuedAtMs: NOW - 5000,
  startedAtMs: NOW - 4000,
};
const failedLate: OperationState = {
  name: 'operations/t',
  instanceName: '',
  actionDigest: digest('c', 142),
  stage: 'completed',
  worker: 'local',
  queuedAtMs: NOW - 9000,
  startedAtMs: NOW - 8990,
  completedAtMs: NOW - 1000,
  outcome: { result: result(0), status: { code: 4, message: 'timed out after 5s', details: [] } },
};
const exited: OperationState = {
  name: 'operations/x',
  instanceName: '',
  actionDigest: digest('d', 143),
  stage: 'completed',
  worker: 'local',
  queuedAtMs: NOW - 9500,
  startedAtMs: NOW - 9499,
  completedAtMs: NOW - 9000,
  outcome: { result: result(1), status: { code: 0, message: '', details: [] } },
};

const snapshot: SchedulerSnapshot = {
  name: 'MAIN_SCHEDULER',
  workers: [
    {
      id: 'local',
      properties: { cpu_count: ['2'], OSFamily: ['Linux'] },
      slots: 2,
      running: ['operations/e'],
      available: { cpu_count: 1 },
      lastSeenMs: NOW - 250,
    },
  ],
  queued: [queued],
  executing: [executing],
  recent: [failedLate, exited],
  counters: {
    submitted: 5,
    merged: 1,
    completed: 2,
    failed: 2,
    retried: 0,
    queueWaitMs: [1000, 10, 1],
    executionMs: [7990, 499],
  },
};

describe('percentiles', () => {
  it('takes the nearest rank, so each is a value that was measured', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(values)).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles([7])).toEqual({ count: 1, p50: 7, p90: 7, p99: 7, max: 7 });
    expect(percentiles([])).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null });
  });
});

describe('the execution parts of status, stats and ops', () => {
  it('status: the queue and each worker with its properties, slots and the actions it runs', () => {
    expect(schedulerStatus(snapshot, NOW)).toEqual({
      name: 'MAIN_SCHEDULER',
      kinds: ['simple'],
      queued: 1,
      executing: 1,
      upstream: null,
      workers: [
        {
          id: 'local',
          properties: { cpu_count: ['2'], OSFamily: ['Linux'] },
          slots: 2,
          running: [{ operation: 'operations/e', actionDigest: `${'b'.repeat(64)}/141`, workerStage: 'fetching_inputs', runningForMs: 4000 }],
          available: { cpu_count: 1 },
          lastSeenAgoMs: 250,
        },
      ],
    });
  });

  it('stats: counts and queue wait / run time percentiles', () => {
    expect(schedulerStats(snapshot)).toEqual({
      name: 'MAIN_SCHEDULER',
      workers: 1,
      slots: 2,
      queued: 1,
      executing: 1,
      submitted: 5,
      merged: 1,
      completed: 2,
      failed: 2,
      retried: 0,
      queueWaitMs: { count: 3, p50: 10, p90: 1000, p99: 1000, max: 1000 },
      executionMs: { count: 2, p50: 499, p90: 7990, p99: 7990, max: 7990 },
    });
  });

  it('ops: executing, then queued, then completed newest first, with times and results', () => {
    const rows = operationRows(snapshot, NOW);
    expect(rows.map((r) => r.name)).toEqual(['operations/e', 'operations/q', 'operations/t', 'operations/x']);
    expect(rows[0]).toMatchObject({ stage: 'executing', workerStage: 'fetching_inputs', worker: 'local', queueWaitMs: 1000, executionMs: 4000, result: null });
    // Still queued: its wait runs to now, and it has no run time.
    expect(rows[1]).toMatchObject({ stage: 'queued', worker: null, startedAt: null, queueWaitMs: 2000, executionMs: null });
    expect(rows[2]).toMatchObject({
      stage: 'completed',
      queuedAt: '2026-12-06T08:00:01.000Z',
      completedAt: '2026-12-06T08:00:09.000Z',
      executionMs: 7990,
      result: { status: 'DEADLINE_EXCEEDED', exitCode: 0, message: 'timed out after 5s' },
    });
    expect(rows[3]!.result).toEqual({ status: 'OK', exitCode: 1, message: null });
  });

  it('prints them: ops as a table, status and stats with an execution part', () => {
    const operations = operationRows(snapshot, NOW);
    const table = formatOps({ operations, total: 4, schedulers: ['MAIN_SCHEDULER'] });
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^stage +action +worker +queued at +wait +run +result$/);
    expect(lines[1]).toMatch(new RegExp(`^executing \\(fetching inputs\\) +${'b'.repeat(64)}/141 +local +\\d\\d:\\d\\d:\\d\\d +1\\.0s +4\\.0s$`));
    expect(lines[3]).toContain('DEADLINE_EXCEEDED: timed out after 5s');
    expect(lines[4]).toMatch(/exit 1$/);
    expect(formatOps({ operations: operations.slice(0, 1), total: 4, schedulers: ['MAIN_SCHEDULER'] })).toContain('(1 of 4 operations shown; --limit)');
    expect(formatOps({ operations: [], total: 0, schedulers: [] })).toMatch(/^no schedulers: this daemon runs no actions/);

    const status = formatStatus({ ...statusBase, schedulers: [schedulerStatus(snapshot, NOW)] });
    expect(status).toContain('execution:\n  scheduler MAIN_SCHEDULER: 1 queued, 1 executing, 1 worker\n');
    expect(status).toContain('    worker local: 1/2 slots busy, free: cpu_count 1\n      properties cpu_count=2 OSFamily=Linux\n');
    expect(status).toContain(`      running ${'b'.repeat(64)}/141  fetching inputs for 4.0s`);
    const idle = formatStatus({ ...statusBase, schedulers: [{ name: 'S', kinds: ['simple'], queued: 0, executing: 0, workers: [], upstream: null }] });
    expect(idle).toContain('scheduler S: 0 queued, 0 executing, 0 workers\n    no worker serves it');
    // A forwarding scheduler: where its actions run, and which run there now.
    const forwarding = { ...snapshot, kinds: ['cache_lookup', 'grpc'], upstream: 'grpc://cluster:8980', workers: [] };
    const upstreamStatus = schedulerStatus(forwarding, NOW);
    expect(upstreamStatus.upstream).toEqual({
      address: 'grpc://cluster:8980',
      running: [{ operation: 'operations/e', actionDigest: `${'b'.repeat(64)}/141`, workerStage: 'fetching_inputs', runningForMs: 4000 }],
    });
    expect(formatStatus({ ...statusBase, schedulers: [upstreamStatus] })).toContain(
      `  scheduler MAIN_SCHEDULER (cache_lookup > grpc): forwards to grpc://cluster:8980: 1 queued, 1 executing there\n    running ${'b'.repeat(64)}/141 upstream for 4.0s\n`,
    );
    expect(formatStatus(statusBase)).not.toContain('execution:');

    const text = renderStatsText(buildStatsModel({ ...statsBase, execution: { schedulers: [schedulerStats(snapshot)], cacheHits: 7 } }));
    expect(text).toContain('Execution (7 answered from the cache by Execute)');
    expect(text).toMatch(/MAIN_SCHEDULER +1 +2 +1 +1 +2 +2 +1 +0 +10\.0ms +1\.0s +1\.0s +499ms +8\.0s +8\.0s/);
    expect(renderStatsText(buildStatsModel(statsBase))).not.toContain('Execution');
  });
});

const statusBase: StatusResult = {
  pid: 1,
  version: '0.1.0',
  startedAt: '2026-12-06T08:00:00.000Z',
  uptimeSeconds: 10,
  configSource: 'c.json5',
  addresses: ['grpc://127.0.0.1:50051'],
  bazelrcLines: [],
  socketPath: '/s',
  stateDir: '/d',
  catalogPath: '/d/catalog.sqlite',
  stores: [],
  uploadBacklog: { blobs: 0, bytes: 0, oldestAgeSeconds: null, uploading: 0, lastError: null, byStore: [] },
  schedulers: [],
};

const statsBase: StatsResult = {
  daemon: { pid: 1, version: '0.1.0', startedAtMs: NOW - 10_000, uptimeMs: 10_000, addresses: [] },
  requests: null,
  lifetime: null,
  stores: [],
  dedup: [],
  compression: [],
  s3: [],
  upstream: [],
  uploadBacklog: { blobs: 0, bytes: 0, oldestAgeMs: null, stores: [] },
  execution: null,
};
