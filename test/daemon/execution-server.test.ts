// Execute and WaitExecution end to end: a real daemon with a SimpleScheduler
// and a LocalWorker in NativeLink's basic_cas layout, real grpc-js clients
// over loopback, real processes. Actions that must stay running wait for a
// gate file the test creates, so nothing depends on timing.
import { status } from '@grpc/grpc-js';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.js';
import { STAGE_EXECUTING } from '../../src/proto/reapi.js';
import type { Digest } from '../../src/util/digest.js';
import { silentLogger } from '../../src/util/logger.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { closedPort } from '../helpers/ports.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { waitForGate, watchOperations } from '../helpers/operation-watch.js';
import { type ActionSpec, decodeOperation, finalResponse, stagesOf, uploadAction } from './execution-helpers.js';
import { type Fixture, type FixtureOptions, startFixture } from './fixture.js';
import { asSimple } from '../scheduler/scripted-worker.js';

const cleanups = cleanupsAfterEach();
let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

async function start(opts: FixtureOptions = {}): Promise<Fixture> {
  fixture = await startFixture({ execution: true, worker: {}, storeKind: 'filesystem', ...opts });
  return fixture;
}

describe('Execute runs an action on the local worker', () => {
  it('inputs in, outputs to the CAS (readable through ByteStream), the result in the AC, stages streamed in order', async () => {
    const f = await start();
    const spec: ActionSpec = {
      args: ['sh', '-c', 'mkdir -p out && cat src/a.txt src/deep/b.txt > out/result.txt && ./tool.sh >> out/result.txt && echo done'],
      command: { outputFiles: ['out/result.txt'] },
      inputs: {
        'src/a.txt': { data: 'alpha\n' },
        'src/deep/b.txt': { data: 'beta\n' },
        'tool.sh': { data: '#!/bin/sh\necho from-tool\n', executable: true },
      },
      salt: 'end-to-end',
    };
    const { actionDigest } = await uploadAction(f.client, spec);
    const ops = await f.client.execute({ actionDigest, inlineStdout: true });
    // A free worker takes it at once: the first state the stream sees is already EXECUTING.
    expect(stagesOf(ops)).toEqual(['EXECUTING', 'COMPLETED']);
    expect(new Set(ops.map((op) => op.name)).size).toBe(1);
    const { response } = finalResponse(ops);
    expect(response.status?.code ?? 0).toBe(status.OK);
    expect(response.cachedResult).toBe(false);
    const result = response.result!;
    expect(result.exitCode).toBe(0);
    expect(result.stdoutRaw.toString()).toBe('done\n');
    expect(result.executionMetadata?.worker).toBe('workers[0]');
    const out = result.outputFiles.find((o) => o.path === 'out/result.txt');
    expect(out?.digest).toBeDefined();
    expect((await f.client.downloadBlob(out!.digest!)).toString()).toBe('alpha\nbeta\nfrom-tool\n');
    // success_only: the result is in the action cache, and served complete.
    const cached = await f.client.getActionResult({ actionDigest });
    expect(cached.outputFiles.map((o) => o.digest)).toEqual([out!.digest]);

    // The same action again is a cache hit; with skip_cache_lookup it runs again.
    const again = await f.client.execute({ actionDigest });
    expect(stagesOf(again)).toEqual(['COMPLETED']);
    expect(finalResponse(again).response.cachedResult).toBe(true);
    const rerun = await f.client.execute({ actionDigest, skipCacheLookup: true });
    expect(stagesOf(rerun)).toEqual(['EXECUTING', 'COMPLETED']);
    expect(finalResponse(rerun).response.cachedResult).toBe(false);
    expect(f.daemon.executeCounters).toMatchObject({ requests: 3, cacheHits: 1, queued: 2 });
  });

  it('a failing command is a done operation with its exit code and stderr, status OK (the command ran)', async () => {
    const f = await start();
    const { actionDigest } = await uploadAction(f.client, { args: ['sh', '-c', 'echo broken >&2; exit 3'], salt: 'failing' });
    const { response } = finalResponse(await f.client.execute({ actionDigest, inlineStderr: true }));
    expect(response.status?.code ?? 0).toBe(status.OK);
    expect(response.result?.exitCode).toBe(3);
    expect(response.result?.stderrRaw.toString()).toBe('broken\n');
    // success_only: a failure is not cached.
    await expect(f.client.getActionResult({ actionDigest })).rejects.toEqual(grpcError(status.NOT_FOUND));
  });

  it('two identical Executes in flight share one run and one operation', async () => {
    const f = await start();
    const dir = await tempDir('ncache-exec-merge-', cleanups);
    const gate = join(dir, 'gate');
    const runs = join(dir, 'runs');
    const { actionDigest } = await uploadAction(f.client, { args: ['sh', '-c', `echo run >> ${runs}; ${waitForGate(gate)}`], salt: 'merged' });
    const first = watchOperations(f.client.executeStream({ actionDigest }));
    await first.stage(STAGE_EXECUTING);
    const second = watchOperations(f.client.executeStream({ actionDigest }));
    await second.stage(STAGE_EXECUTING);
    await writeFile(gate, '');
    const [a, b] = await Promise.all([first.ended, second.ended]);
    expect(finalResponse(a).name).toBe(finalResponse(b).name);
    expect(finalResponse(b).response.result?.exitCode).toBe(0);
    expect(await readFile(runs, 'utf8')).toBe('run\n');
    expect(f.daemon.schedulers.get('MAIN')!.snapshot().counters).toMatchObject({ submitted: 2, merged: 1 });
  });

  it('WaitExecution after the client went away mid-run gets the result; on a finished operation it answers at once', async () => {
    const f = await start();
    const dir = await tempDir('ncache-exec-wait-', cleanups);
    const gate = join(dir, 'gate');
    const { actionDigest } = await uploadAction(f.client, { args: ['sh', '-c', `${waitForGate(gate)}; echo finished`], salt: 'wait' });
    const first = watchOperations(f.client.executeStream({ actionDigest }));
    await first.stage(STAGE_EXECUTING);
    const name = first.ops[0]!.name;
    first.cancel();
    // A new connection, as a restarted client would have.
    const other = new ReapiClient(f.address);
    cleanups.push(() => other.close());
    const resumed = watchOperations(other.waitExecutionStream(name));
    await resumed.stage(STAGE_EXECUTING);
    await writeFile(gate, '');
    const ops = await resumed.ended;
    expect(stagesOf(ops)).toEqual(['EXECUTING', 'COMPLETED']);
    expect(finalResponse(ops).response.result?.exitCode).toBe(0);
    // Retained for retain_completed_for_s: WaitExecution answers the end state at once.
    const done = await other.waitExecution(name);
    expect(stagesOf(done)).toEqual(['COMPLETED']);
    expect(finalResponse(done).name).toBe(name);
  });

  it('a platform property no worker can ever satisfy is FAILED_PRECONDITION naming it, at once', async () => {
    const f = await start({
      worker: { platform_properties: { cpu_count: { values: ['2'] }, OSFamily: { values: ['Linux'] } } },
      edit: (c) => (asSimple(c.schedulers[0]?.spec).supported_platform_properties = { cpu_count: 'minimum', OSFamily: 'exact' }),
    });
    const big = await uploadAction(f.client, { args: ['true'], platform: { cpu_count: '64' }, salt: 'big' });
    await expect(f.client.execute({ actionDigest: big.actionDigest })).rejects.toEqual(grpcError(status.FAILED_PRECONDITION, /cpu_count/));
    const windows = await uploadAction(f.client, { args: ['true'], platform: { OSFamily: 'Windows' }, salt: 'windows' });
    await expect(f.client.execute({ actionDigest: windows.actionDigest })).rejects.toEqual(grpcError(status.FAILED_PRECONDITION, /OSFamily/));
    // One that fits runs.
    const fits = await uploadAction(f.client, { args: ['true'], platform: { cpu_count: '1', OSFamily: 'Linux' }, salt: 'fits' });
    expect(finalResponse(await f.client.execute({ actionDigest: fits.actionDigest })).response.result?.exitCode).toBe(0);
  });

  it('stopping the daemon mid-action kills its process group, removes its directory, and answers UNAVAILABLE', async () => {
    const f = await start();
    const dir = await tempDir('ncache-exec-stop-', cleanups);
    const pids = join(dir, 'pids');
    // The shell and a grandchild it waits on, each writing its pid.
    const { actionDigest } = await uploadAction(f.client, {
      args: ['sh', '-c', `sleep 600 & echo $$ $! > ${pids}.tmp && mv ${pids}.tmp ${pids}; wait`],
      salt: 'stop',
    });
    const run = watchOperations(f.client.executeStream({ actionDigest }));
    await run.stage(STAGE_EXECUTING);
    const written = await waitFor(async () => (existsSync(pids) ? readFile(pids, 'utf8') : undefined), { what: 'the action to start' });
    const [shell, grandchild] = written.trim().split(' ').map(Number);
    expect(alive(shell!) && alive(grandchild!)).toBe(true);
    const workDir = f.config.workers[0]!.work_directory;
    expect((await readdir(workDir)).some((e) => e.startsWith('action-'))).toBe(true);

    await f.daemon.stop({ graceMs: 60_000 });
    const ops = await run.ended;
    const { response } = finalResponse(ops);
    expect(response.status?.code).toBe(status.UNAVAILABLE);
    expect(alive(shell!)).toBe(false);
    expect(alive(grandchild!)).toBe(false);
    expect((await readdir(workDir)).filter((e) => e.startsWith('action-'))).toEqual([]);
  });
});

describe("NativeLink's basic_cas layout, as a config file", () => {
  let daemon: RunningDaemon | undefined;
  afterEach(async () => {
    await daemon?.stop({ graceMs: 2000 });
    daemon = undefined;
  });

  it('two listeners, the worker on the worker_api one: Execute on the public listener runs actions; the worker_api listener serves health', async () => {
    const dir = await tempDir('ncache-basic-cas-', cleanups);
    const workerPort = await closedPort();
    const text = `{
      stores: [
        { name: "CAS_MAIN_STORE", filesystem: { content_path: "${dir}/cas", temp_path: "${dir}/tmp", eviction_policy: { max_bytes: "1gb" } } },
        { name: "AC_MAIN_STORE", memory: { eviction_policy: { max_bytes: "10mb" } } },
        {
          name: "WORKER_FAST_SLOW_STORE",
          fast_slow: {
            fast: { filesystem: { content_path: "${dir}/worker-cas", temp_path: "${dir}/worker-tmp", eviction_policy: { max_bytes: "1gb" } } },
            slow: { ref_store: { name: "CAS_MAIN_STORE" } },
          },
        },
      ],
      schedulers: [{ name: "MAIN_SCHEDULER", simple: { supported_platform_properties: { cpu_count: "minimum", OSFamily: "priority", "container-image": "priority" } } }],
      workers: [{
        local: {
          worker_api_endpoint: { uri: "grpc://127.0.0.1:${workerPort}" },
          cas_fast_slow_store: "WORKER_FAST_SLOW_STORE",
          upload_action_result: { ac_store: "AC_MAIN_STORE" },
          work_directory: "${dir}/work",
          platform_properties: { cpu_count: { values: ["4"] }, OSFamily: { values: [""] }, "container-image": { values: [""] } },
        },
      }],
      servers: [
        {
          name: "public",
          listener: { http: { socket_address: "127.0.0.1:0" } },
          services: {
            cas: [{ instance_name: "main", cas_store: "WORKER_FAST_SLOW_STORE" }],
            ac: [{ instance_name: "main", ac_store: "AC_MAIN_STORE" }],
            execution: [{ instance_name: "main", cas_store: "WORKER_FAST_SLOW_STORE", scheduler: "MAIN_SCHEDULER" }],
            capabilities: [{ instance_name: "main", remote_execution: { scheduler: "MAIN_SCHEDULER" } }],
            bytestream: { cas_stores: { main: "WORKER_FAST_SLOW_STORE" } },
            health: {},
          },
        },
        {
          name: "private_workers_servers",
          listener: { http: { socket_address: "0.0.0.0:${workerPort}" } },
          services: { worker_api: { scheduler: "MAIN_SCHEDULER" }, admin: {}, health: {} },
        },
      ],
    }`;
    const config = parseConfigText(text, '<basic_cas>');
    daemon = await startDaemon({ config, logger: silentLogger, stateDir: join(dir, 'state') });
    const client = new ReapiClient(daemon.addresses[0]!);
    cleanups.push(() => client.close());
    const { actionDigest } = await uploadAction(client, { args: ['sh', '-c', 'echo built > out.txt'], command: { outputFiles: ['out.txt'] }, platform: { cpu_count: '2' }, salt: 'basic-cas' }, 'main');
    const { response } = finalResponse(await client.execute({ instanceName: 'main', actionDigest }));
    expect(response.result?.exitCode).toBe(0);
    const out: Digest = response.result!.outputFiles[0]!.digest!;
    expect((await client.downloadBlob(out, 'main')).toString()).toBe('built\n');
    expect((await client.getCapabilities('main')).executionCapabilities?.execEnabled).toBe(true);
    // The worker_api listener is bound and answers its own services.
    const workerListener = new ReapiClient(`127.0.0.1:${workerPort}`);
    cleanups.push(() => workerListener.close());
    expect((await workerListener.healthCheck('')).status).toBe(1); // SERVING
    expect(daemon.schedulers.get('MAIN_SCHEDULER')!.snapshot().workers.map((w) => w.id)).toEqual(['workers[0]']);
  });
});

/** Whether `pid` is a running process (a zombie, dead but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
