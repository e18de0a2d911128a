// The grpc scheduler's decisions against a scripted upstream (a real
// UpstreamExecution whose calls play what the test says): which call comes
// next after a drop, a forgotten operation or an unreachable upstream, and
// when it gives up. The real two-daemon tests are test/daemon/grpc-scheduler.test.ts.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecuteRequest, ExecuteResponse, MessageInit } from '../../src/proto/reapi.js';
import { GrpcScheduler } from '../../src/scheduler/grpc-scheduler.js';
import { MAX_QUICK_RESUMES } from '../../src/scheduler/upstream-run.js';
import { emptyActionResult } from '../../src/scheduler/job.js';
import type { UpstreamExecution } from '../../src/scheduler/upstream-run.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import type { UpstreamOperation } from '../../src/upstream/execution-client.js';
import { ManualClock } from '../../src/util/clock.js';
import { NcacheError } from '../../src/util/errors.js';
import { completion, jobRequest } from './scripted-worker.js';

/** One upstream call: the operations it yields, then how it ends (undefined: the stream just ends). */
type Call = { yields: UpstreamOperation[]; then?: NcacheError; hang?: boolean; lastsMs?: number };

class ScriptedUpstream implements UpstreamExecution {
  readonly address = 'grpc://cluster:1';
  readonly maxRetries: number;
  readonly calls: string[] = [];
  readonly backoffs: number[] = [];
  readonly script: Call[] = [];
  closed = false;

  constructor(
    maxRetries: number,
    private readonly clock: ManualClock,
  ) {
    this.maxRetries = maxRetries;
  }

  retryable(err: unknown): boolean {
    return err instanceof NcacheError && err.code === 'UNAVAILABLE';
  }

  async backoff(n: number): Promise<void> {
    this.backoffs.push(n);
  }

  execute(request: MessageInit<ExecuteRequest>, signal?: AbortSignal): AsyncIterable<UpstreamOperation> {
    this.calls.push(`execute ${request.actionDigest?.hash?.slice(0, 6) ?? "?"}`);
    return this.play(signal);
  }

  waitExecution(name: string, _instance: string, signal?: AbortSignal): AsyncIterable<UpstreamOperation> {
    this.calls.push(`wait ${name}`);
    return this.play(signal);
  }

  close(): void {
    this.closed = true;
  }

  private async *play(signal?: AbortSignal): AsyncGenerator<UpstreamOperation> {
    const call = this.script.shift();
    if (call === undefined) throw new Error('the test scripted no more upstream calls');
    for (const op of call.yields) yield op;
    if (call.lastsMs !== undefined) this.clock.advance(call.lastsMs);
    if (call.hang) {
      await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
      throw new NcacheError('CANCELLED', 'cancelled by the scheduler');
    }
    if (call.then !== undefined) throw call.then;
  }
}

const done = (exitCode = 0): ExecuteResponse => ({
  result: { ...emptyActionResult(), exitCode },
  cachedResult: false,
  status: { code: status.OK, message: '', details: [] },
  serverLogs: {},
  message: '',
});
const down = () => new NcacheError('UNAVAILABLE', 'upstream grpc://cluster:1 (instance "") Execution.Execute: UNAVAILABLE: connection refused');

const open: GrpcScheduler[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function build(maxRetries = 2) {
  const clock = new ManualClock();
  const upstream = new ScriptedUpstream(maxRetries, clock);
  const s = new GrpcScheduler({ name: 'REMOTE', upstream, upstreamCas: () => new MemoryStore(), clock, sweepIntervalMs: 0 });
  open.push(s);
  return { s, upstream, clock };
}

describe('GrpcScheduler against a scripted upstream', () => {
  it('a drop after progress is followed by WaitExecution at once; a forgotten operation is executed again', async () => {
    const { s, upstream } = build();
    upstream.script.push(
      { yields: [{ name: 'up/1', stage: 'executing' }], then: down() },
      { yields: [], then: new NcacheError('NOT_FOUND', 'no operation named up/1') },
      { yields: [{ name: 'up/2', stage: 'queued' }, { name: 'up/2', stage: 'completed', response: done(4) }] },
    );
    const state = await completion(s.submit(jobRequest('a')));
    expect(upstream.calls).toEqual([expect.stringMatching(/^execute /), 'wait up/1', expect.stringMatching(/^execute /)]);
    expect(upstream.backoffs).toEqual([]);
    expect(state.outcome?.result.exitCode).toBe(4);
    expect(state.worker).toBe('grpc://cluster:1');
  });

  it('an upstream that stays away: max_retries backoffs, then UNAVAILABLE naming it and the attempts', async () => {
    const { s, upstream } = build(2);
    upstream.script.push({ yields: [], then: down() }, { yields: [], then: down() }, { yields: [], then: down() });
    const state = await completion(s.submit(jobRequest('b')));
    expect(upstream.backoffs).toEqual([0, 1]);
    expect(state.outcome?.status.code).toBe(status.UNAVAILABLE);
    expect(state.outcome?.message).toBe(
      'scheduler "REMOTE": could not reach upstream grpc://cluster:1 (3 attempts, retry.max_retries: 2): upstream grpc://cluster:1 (instance "") Execution.Execute: UNAVAILABLE: connection refused',
    );
    expect(s.snapshot().counters).toMatchObject({ completed: 1, failed: 1, retried: 2 });
  });

  it('a refusal the policy does not retry ends the action with its code at once', async () => {
    const { s, upstream } = build(5);
    upstream.script.push({ yields: [], then: new NcacheError('PERMISSION_DENIED', 'upstream grpc://cluster:1: UNAUTHENTICATED: bad token') });
    const state = await completion(s.submit(jobRequest('c')));
    expect(state.outcome?.status).toMatchObject({ code: status.PERMISSION_DENIED, message: expect.stringContaining('bad token') });
    expect(upstream.calls).toHaveLength(1);
  });

  it('an operation nobody watches for 60 s is cancelled, its upstream call too', async () => {
    const { s, upstream, clock } = build();
    upstream.script.push({ yields: [{ name: 'up/9', stage: 'executing' }], hang: true });
    const handle = s.submit(jobRequest('d'));
    const stop = handle.watch(() => {});
    clock.advance(120_000);
    s.sweep();
    expect(handle.current().stage).not.toBe('completed');
    stop();
    clock.advance(61_000);
    s.sweep();
    expect(handle.current()).toMatchObject({ stage: 'completed', outcome: { status: { code: status.UNAVAILABLE } } });
    await s.close();
    expect(upstream.closed).toBe(true);
  });

  it('a server that hangs up every stream is followed for as long as each stream lasts a while, and given up on when they drop at once', async () => {
    const slow = build();
    const drop = (lastsMs: number): Call => ({ yields: [{ name: 'up/long', stage: 'executing' }], then: down(), lastsMs });
    for (let i = 0; i < MAX_QUICK_RESUMES + 50; i++) slow.upstream.script.push(drop(11_000));
    slow.upstream.script.push({ yields: [{ name: 'up/long', stage: 'completed', response: done() }] });
    expect((await completion(slow.s.submit(jobRequest('long')))).outcome?.status.code).toBe(status.OK);

    const fast = build();
    for (let i = 0; i <= MAX_QUICK_RESUMES; i++) fast.upstream.script.push(drop(10));
    const state = await completion(fast.s.submit(jobRequest('flapping')));
    expect(state.outcome?.status.code).toBe(status.UNAVAILABLE);
    expect(state.outcome?.message).toMatch(/dropped 100 times in a row, each within 10s/);
    expect(fast.upstream.backoffs).toEqual([]);
  });
});
