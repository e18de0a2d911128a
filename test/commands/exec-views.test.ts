// `ncache status`, `stats` and `ops` as a user sees them, against a real
// daemon started from the config `ncache init --exec` writes (listeners moved
// to free ports): the scheduler and its worker, then one real action sent
// with a grpc-js Execute, held running until the test lets it finish, seen
// executing, then completed, then answered from the action cache.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderExecConfig } from '../../src/commands/init/run.js';
import type { OpsResult } from '../../src/daemon/control/ops.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import type { StatusResult } from '../../src/daemon/control/status.js';
import { ActionCodec, CommandCodec, DirectoryCodec, ExecuteResponseCodec, type Operation } from '../../src/proto/reapi.js';
import { type Digest, formatDigest } from '../../src/util/digest.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { execConfigOnFreePorts } from '../helpers/template-configs.js';
import { waitFor } from '../helpers/wait-for.js';

interface ExecuteOutcome {
  result?: { exitCode?: number };
  cachedResult?: boolean;
  status?: { code?: number };
}

function outcomeOf(ops: Operation[]): ExecuteOutcome {
  const last = ops.at(-1);
  if (last?.done !== true || !last.response) throw new Error(`Execute ended without a done operation: ${JSON.stringify(ops)}`);
  return ExecuteResponseCodec.decode(last.response.value) as ExecuteOutcome;
}

describe('status, stats and ops of a daemon running the init --exec config', () => {
  let d: CliDaemon;
  let client: ReapiClient;

  beforeAll(async () => {
    d = await startCliDaemon({ configText: await execConfigOnFreePorts(renderExecConfig()) });
    client = new ReapiClient(d.address);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
  });

  const json = async <T,>(args: string[]): Promise<T> => {
    const run = await d.run([...args, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as T;
  };

  it('status shows the scheduler and its worker, and the .bazelrc lines name the executor', async () => {
    const status = await json<StatusResult>(['status']);
    expect(status.bazelrcLines).toEqual([`build --remote_cache=grpc://${d.address}`, `build --remote_executor=grpc://${d.address}`]);
    expect(status.schedulers).toHaveLength(1);
    const [scheduler] = status.schedulers;
    expect(scheduler).toMatchObject({ name: 'MAIN_SCHEDULER', queued: 0, executing: 0 });
    expect(scheduler!.workers).toHaveLength(1);
    const worker = scheduler!.workers[0]!;
    expect(worker.properties).toMatchObject({ OSFamily: ['Linux'] });
    expect(worker.slots).toBe(Number(worker.properties.cpu_count![0]));
    expect(worker.running).toEqual([]);

    const plain = await d.run(['status']);
    expect(plain.stdout).toContain('execution:\n  scheduler MAIN_SCHEDULER: 0 queued, 0 executing, 1 worker\n');
    expect(plain.stdout).toMatch(new RegExp(`    worker ${worker.id}: 0/${worker.slots} slots busy`));
  });

  it('ops, status and stats follow one real action from executing to completed, then a cache hit', async () => {
    const gate = join(d.dir, 'gate');
    await mkdir(gate);
    const released = join(gate, 'go');
    // Runs until the test creates the file, so it can be seen executing.
    const command = CommandCodec.encode({
      arguments: ['/bin/sh', '-c', `while [ ! -e ${released} ]; do sleep 0.05; done; echo ran > out.txt`],
      outputFiles: ['out.txt'],
    });
    const commandDigest = await client.uploadBlob(command);
    const inputRootDigest = await client.uploadBlob(DirectoryCodec.encode({}));
    const actionDigest: Digest = await client.uploadBlob(ActionCodec.encode({ commandDigest, inputRootDigest }));
    const action = formatDigest(actionDigest);

    const execution = client.execute({ instanceName: '', actionDigest });
    const running = await waitFor(
      async () => (await json<OpsResult>(['ops'])).operations.find((o) => o.actionDigest === action && o.stage === 'executing'),
      { what: `action ${action} executing in ncache ops` },
    );
    expect(running.worker).not.toBeNull();
    const status = await json<StatusResult>(['status']);
    expect(status.schedulers[0]).toMatchObject({ executing: 1 });
    expect(status.schedulers[0]!.workers[0]!.running).toEqual([expect.objectContaining({ operation: running.name, actionDigest: action })]);
    const table = await d.run(['ops']);
    expect(table.stdout).toMatch(new RegExp(`^executing.* ${action} +${running.worker}`, 'm'));

    await writeFile(released, '');
    const outcome = outcomeOf(await execution);
    expect(outcome.result?.exitCode ?? 0).toBe(0);

    const completed = await json<OpsResult>(['ops', '--stage', 'completed']);
    expect(completed.operations).toEqual([
      expect.objectContaining({ name: running.name, actionDigest: action, stage: 'completed', result: { status: 'OK', exitCode: 0, message: null } }),
    ]);
    expect(completed.operations[0]!.executionMs).toBeGreaterThan(0);

    const stats = await json<StatsResult>(['stats']);
    const scheduler = stats.execution?.schedulers[0];
    expect(scheduler).toMatchObject({ name: 'MAIN_SCHEDULER', submitted: 1, completed: 1, failed: 0, queued: 0, executing: 0 });
    expect(scheduler!.executionMs.count).toBe(1);
    expect(scheduler!.queueWaitMs.p50).not.toBeNull();
    expect(stats.execution!.cacheHits).toBe(0);

    // The same action again is answered from the action cache, without the scheduler.
    const again = outcomeOf(await client.execute({ instanceName: '', actionDigest }));
    expect(again.cachedResult).toBe(true);
    const after = await json<StatsResult>(['stats']);
    expect(after.execution).toMatchObject({ cacheHits: 1, schedulers: [expect.objectContaining({ submitted: 1 })] });
    const text = await d.run(['stats']);
    expect(text.stdout).toContain('Execution (1 answered from the cache by Execute)');
  });
});
