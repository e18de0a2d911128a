// A cache_lookup scheduler behind the Execution service, over real gRPC: its
// ac_store is a second, shared action cache the instance's own AC lacks (the
// service's own lookup misses), so a hit there is the scheduler's answer.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { asSimple, simpleSpec } from '../scheduler/scripted-worker.js';
import { finalResponse, stagesOf, uploadAction } from './execution-helpers.js';
import { type Fixture, startFixture } from './fixture.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

async function start(): Promise<Fixture> {
  fixture = await startFixture({
    execution: true,
    worker: {},
    storeKind: 'filesystem',
    edit: (config) => {
      config.stores.push({ name: 'SHARED_AC', spec: { kind: 'completeness_checking', backend: { kind: 'memory' }, cas_store: { kind: 'ref_store', name: 'CAS' } } });
      // A second instance whose AC service writes the shared store, so the test can fill it through UpdateActionResult.
      config.servers[0]!.services.ac!.push({ instance_name: 'shared', ac_store: 'SHARED_AC', read_only: false });
      config.schedulers[0]!.spec = { kind: 'cache_lookup', ac_store: 'SHARED_AC', scheduler: { ...asSimple(config.schedulers[0]?.spec), ...simpleSpec() } };
    },
  });
  return fixture;
}

describe('Execute through a cache_lookup scheduler', () => {
  it('a result in its ac_store is answered as cached_result without running; a miss runs on the nested simple scheduler', async () => {
    const f = await start();
    const cached = await uploadAction(f.client, { args: ['sh', '-c', 'echo never-runs'], salt: 'cache-lookup-hit' });
    const stdout = await f.client.uploadBlob(Buffer.from('from the shared cache\n'));
    await f.client.updateActionResult({ instanceName: 'shared', actionDigest: cached.actionDigest, actionResult: { exitCode: 0, stdoutDigest: stdout } });
    // The instance's own AC does not have it: the Execution service's lookup misses, the scheduler's hits.
    await expect(f.client.getActionResult({ actionDigest: cached.actionDigest })).rejects.toMatchObject({ code: status.NOT_FOUND });

    const hit = await f.client.execute({ actionDigest: cached.actionDigest });
    expect(stagesOf(hit)).toEqual(['QUEUED', 'COMPLETED']);
    const { response } = finalResponse(hit);
    expect(response).toMatchObject({ cachedResult: true, result: { exitCode: 0, stdoutDigest: stdout } });
    expect(f.daemon.executeCounters).toMatchObject({ requests: 1, cacheHits: 0, queued: 1 });

    const missed = await uploadAction(f.client, { args: ['sh', '-c', 'echo ran'], salt: 'cache-lookup-miss' });
    const ran = finalResponse(await f.client.execute({ actionDigest: missed.actionDigest, inlineStdout: true })).response;
    expect(ran).toMatchObject({ cachedResult: false, result: { exitCode: 0, executionMetadata: { worker: 'workers[0]' } } });
    expect(ran.result?.stdoutRaw.toString()).toBe('ran\n');
    const snapshot = f.daemon.schedulers.get('MAIN')!.snapshot();
    expect(snapshot).toMatchObject({ kinds: ['cache_lookup', 'simple'], counters: { submitted: 2, completed: 2 } });
  });
});
