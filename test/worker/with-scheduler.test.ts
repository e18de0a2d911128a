// The local worker behind the real SimpleScheduler: identical actions run
// once, a daemon stopping mid-action ends the operation with UNAVAILABLE and
// leaves no action directory or process behind.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { SimpleScheduler } from '../../src/scheduler/simple-scheduler.js';
import type { JobRequest } from '../../src/scheduler/job.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { completion, simpleSpec } from '../scheduler/scripted-worker.js';
import { waitFor } from '../helpers/wait-for.js';
import { dead, workerFixture } from './worker-fixture.js';

const cleanups = cleanupsAfterEach();

function scheduler(): SimpleScheduler {
  const s = new SimpleScheduler({ name: 'MAIN', spec: simpleSpec(), sweepIntervalMs: 0 });
  cleanups.push(() => s.close());
  return s;
}

describe('LocalWorker behind SimpleScheduler', () => {
  it('runs a submitted action and every merged waiter gets its result', async () => {
    const f = await workerFixture(cleanups);
    const s = scheduler();
    s.addWorker(f.worker);
    const job = await f.job({ arguments: ['/bin/sh', '-c', 'echo run >> ../../runs.log; echo built > out.txt'], outputFiles: ['out.txt'] }, await f.putTree({}));
    const { operationName: _name, queuedAtMs: _queued, attempt: _attempt, ...request } = job;
    const first = s.submit(request satisfies JobRequest);
    const second = s.submit(request);
    const [a, b] = await Promise.all([completion(first), completion(second)]);
    expect(a.outcome?.status.code).toBe(GrpcStatus.OK);
    expect(b.outcome?.result.outputFiles).toEqual(a.outcome?.result.outputFiles);
    expect(a.outcome?.result.executionMetadata?.worker).toBe('test-worker');
    expect(await readFile(join(f.workDirectory, 'runs.log'), 'utf8')).toBe('run\n');
  });

  it('stopping the scheduler mid-action kills it, removes its directory, and the operation ends UNAVAILABLE', async () => {
    const f = await workerFixture(cleanups);
    const s = scheduler();
    s.addWorker(f.worker);
    const pidFile = join(f.dir, 'pid');
    const job = await f.job({ arguments: ['/bin/sh', '-c', `echo "$$" > ${pidFile}; sleep 300`] }, await f.putTree({}));
    const { operationName: _name, queuedAtMs: _queued, attempt: _attempt, ...request } = job;
    const handle = s.submit(request);
    const done = completion(handle);
    const pid = Number(await waitFor(async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() || undefined, { what: 'the action to start' }));
    await s.close();
    const state = await done;
    expect(state.outcome?.status.code).toBe(GrpcStatus.UNAVAILABLE);
    await waitFor(() => dead(pid), { what: `process ${pid} to be killed` });
    expect((await readdir(f.workDirectory)).filter((n) => n.startsWith('action-'))).toEqual([]);
  });
});
