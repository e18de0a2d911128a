// The grpc scheduler between two real daemons over loopback: a "cluster"
// (simple scheduler, a local worker) and a "laptop" whose Execution service
// forwards to it through a TCP proxy the test can cut. Real gRPC, real
// processes; actions that must stay running wait for a gate file.
import { status } from '@grpc/grpc-js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NcacheConfig, SchedulerSpec, UpstreamConnectionSpec } from '../../src/config/types.js';
import { STAGE_EXECUTING } from '../../src/proto/reapi.js';
import { closedPort } from '../helpers/ports.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { waitForGate, watchOperations } from '../helpers/operation-watch.js';
import { type ActionSpec, decodeOperation, encodeAction, finalResponse, missingBlobsOf, stagesOf, uploadAction } from './execution-helpers.js';
import { type Fixture, startFixture } from './fixture.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { asSimple } from '../scheduler/scripted-worker.js';
import { digestOf } from '../../src/util/digest.js';

const cleanups = cleanupsAfterEach();
const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

const CLUSTER_WORKER = 'cluster-worker';

function upstreamSpec(port: number, maxRetries = 3): UpstreamConnectionSpec {
  return {
    endpoints: [{ address: `grpc://127.0.0.1:${port}`, concurrency_limit: 0, http2_keepalive_interval_s: 0, http2_keepalive_timeout_s: 0 }],
    retry: { max_retries: maxRetries, delay: 0.05, jitter: 0 },
    max_concurrent_requests: 0,
    connections_per_endpoint: 1,
    rpc_timeout_s: 0,
    headers: {},
  };
}

async function cluster(port: number, edit?: (config: NcacheConfig) => void): Promise<Fixture> {
  const f = await startFixture({
    execution: true,
    worker: {},
    storeKind: 'filesystem',
    edit: (c) => {
      c.servers[0]!.listener.http.socket_address = `127.0.0.1:${port}`;
      c.workers[0]!.name = CLUSTER_WORKER;
      edit?.(c);
    },
  });
  running.push({ stop: () => f.stop() });
  return f;
}

interface World {
  cluster: Fixture;
  laptop: Fixture;
  proxy: TcpProxy;
  clusterPort: number;
}

interface WorldOptions {
  maxRetries?: number;
  /** The laptop's scheduler around the grpc one (default: the grpc one alone). */
  laptopScheduler?: (grpc: SchedulerSpec) => SchedulerSpec;
  editCluster?: (config: NcacheConfig) => void;
}

async function world(opts: WorldOptions = {}): Promise<World> {
  const clusterPort = await closedPort();
  const c = await cluster(clusterPort, opts.editCluster);
  const proxy = await TcpProxy.start(clusterPort);
  running.push({ stop: () => proxy.close() });
  const laptop = await startFixture({
    execution: true,
    storeKind: 'filesystem',
    edit: (config) => {
      const grpc: SchedulerSpec = { kind: 'grpc', connection: upstreamSpec(proxy.port, opts.maxRetries) };
      config.schedulers[0]!.spec = opts.laptopScheduler?.(grpc) ?? grpc;
    },
  });
  running.push({ stop: () => laptop.stop() });
  return { cluster: c, laptop, proxy, clusterPort };
}

/** Uploads the action's blobs to both daemons. */
async function uploadBoth(w: World, spec: ActionSpec) {
  await uploadAction(w.cluster.client, spec);
  return uploadAction(w.laptop.client, spec);
}

describe('grpc scheduler: the laptop forwards to the cluster', () => {
  it("runs on the cluster's worker; outputs and the result land in the laptop's CAS and AC, so the next Execute is a local hit", async () => {
    const w = await world();
    const spec: ActionSpec = {
      args: ['sh', '-c', 'mkdir -p out && cat in.txt > out/r.txt && echo on-the-cluster'],
      command: { outputFiles: ['out/r.txt'] },
      inputs: { 'in.txt': { data: 'payload\n' } },
      salt: 'forward-basic',
    };
    const { actionDigest } = await uploadBoth(w, spec);
    const ops = await w.laptop.client.execute({ actionDigest, inlineStdout: true });
    expect(stagesOf(ops).at(-1)).toBe('COMPLETED');
    const { name, response } = finalResponse(ops);
    expect(response.status?.code ?? 0).toBe(status.OK);
    expect(response.cachedResult).toBe(false);
    expect(response.result?.exitCode).toBe(0);
    expect(response.result?.executionMetadata?.worker).toBe(CLUSTER_WORKER);
    expect(response.result?.stdoutRaw.toString()).toBe('on-the-cluster\n');
    // The client reads outputs from the laptop, which copied them from the cluster.
    const out = response.result!.outputFiles.find((f) => f.path === 'out/r.txt')!;
    expect((await w.laptop.client.downloadBlob(out.digest!)).toString()).toBe('payload\n');
    // WaitExecution on the laptop finds the operation by the name it handed out.
    expect(finalResponse(await w.laptop.client.waitExecution(name)).response.result?.exitCode).toBe(0);
    // The laptop's own action cache has it, complete: the next Execute never reaches the cluster.
    expect((await w.laptop.client.getActionResult({ actionDigest })).outputFiles.map((f) => f.digest)).toEqual([out.digest]);
    const again = await w.laptop.client.execute({ actionDigest });
    expect(finalResponse(again).response.cachedResult).toBe(true);
    expect(w.cluster.daemon.executeCounters.requests).toBe(1);
    const snapshot = w.laptop.daemon.schedulers.get('MAIN')!.snapshot();
    expect(snapshot).toMatchObject({ kinds: ['grpc'], upstream: `grpc://127.0.0.1:${w.proxy.port}`, workers: [], counters: { submitted: 1, completed: 1, failed: 0 } });
    expect(snapshot.recent.map((op) => op.worker)).toEqual([`grpc://127.0.0.1:${w.proxy.port}`]);
  });

  it('a failing command keeps its exit code, stderr and status; nothing is cached', async () => {
    const w = await world();
    const { actionDigest } = await uploadBoth(w, { args: ['sh', '-c', 'echo broken >&2; exit 3'], salt: 'forward-failing' });
    const { response } = finalResponse(await w.laptop.client.execute({ actionDigest }));
    expect(response.status?.code ?? 0).toBe(status.OK);
    expect(response.result?.exitCode).toBe(3);
    // stderr is read from the laptop, like Bazel does.
    expect((await w.laptop.client.downloadBlob(response.result!.stderrDigest!)).toString()).toBe('broken\n');
    await expect(w.laptop.client.getActionResult({ actionDigest })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('identical Executes in flight on the laptop share one upstream Execute', async () => {
    const w = await world();
    const dir = await tempDir('ncache-forward-merge-', cleanups);
    const gate = join(dir, 'gate');
    const { actionDigest } = await uploadBoth(w, { args: ['sh', '-c', waitForGate(gate)], salt: 'forward-merged' });
    const first = watchOperations(w.laptop.client.executeStream({ actionDigest }));
    await first.stage(STAGE_EXECUTING);
    const second = watchOperations(w.laptop.client.executeStream({ actionDigest }));
    await second.stage(STAGE_EXECUTING);
    await writeFile(gate, '');
    const [a, b] = await Promise.all([first.ended, second.ended]);
    expect(finalResponse(a).name).toBe(finalResponse(b).name);
    expect(finalResponse(b).response.result?.executionMetadata?.worker).toBe(CLUSTER_WORKER);
    expect(w.cluster.daemon.executeCounters.requests).toBe(1);
    expect(w.laptop.daemon.schedulers.get('MAIN')!.snapshot().counters).toMatchObject({ submitted: 2, merged: 1, completed: 1 });
  });

  it('a cut upstream stream is resumed with WaitExecution: one upstream Execute, the client never notices', async () => {
    const w = await world();
    const dir = await tempDir('ncache-forward-cut-', cleanups);
    const gate = join(dir, 'gate');
    const { actionDigest } = await uploadBoth(w, { args: ['sh', '-c', `${waitForGate(gate)}; echo survived`], salt: 'forward-cut' });
    const client = watchOperations(w.laptop.client.executeStream({ actionDigest, inlineStdout: true }));
    await client.stage(STAGE_EXECUTING);
    const before = w.proxy.accepted;
    expect(w.proxy.cutAll()).toBeGreaterThan(0);
    // The laptop reconnects (a new TCP connection) and follows the same upstream operation.
    await waitFor(() => w.proxy.accepted > before, { what: 'the laptop to reconnect to the cluster' });
    await writeFile(gate, '');
    const { response } = finalResponse(await client.ended);
    expect(response.result?.stdoutRaw.toString()).toBe('survived\n');
    expect(response.result?.executionMetadata?.worker).toBe(CLUSTER_WORKER);
    expect(w.cluster.daemon.executeCounters.requests).toBe(1);
  });

  it('the cluster stopped: UNAVAILABLE naming the upstream; when it is back, the same Execute succeeds', async () => {
    const w = await world({ maxRetries: 2 });
    const spec: ActionSpec = { args: ['sh', '-c', 'echo back'], salt: 'forward-down' };
    const { actionDigest } = await uploadAction(w.laptop.client, spec);
    await w.cluster.stop();
    const { response } = finalResponse(await w.laptop.client.execute({ actionDigest }));
    expect(response.status?.code).toBe(status.UNAVAILABLE);
    expect(response.status?.message).toContain(`grpc://127.0.0.1:${w.proxy.port}`);
    expect(response.status?.message).toMatch(/3 attempts, retry\.max_retries: 2/);

    // A new cluster on the same address (empty: the laptop uploads what it lacks). The laptop's
    // connection may still be in grpc-js's reconnect backoff for a moment, as Bazel's retries would see.
    w.cluster = await cluster(w.clusterPort);
    const back = await waitFor(
      async () => {
        const { response: r } = finalResponse(await w.laptop.client.execute({ actionDigest, inlineStdout: true }));
        return (r.status?.code ?? 0) === status.OK ? r : undefined;
      },
      { what: 'an Execute through the laptop to succeed once the cluster is back', timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(back.result?.stdoutRaw.toString()).toBe('back\n');
    expect(back.result?.executionMetadata?.worker).toBe(CLUSTER_WORKER);
  });

  it('inputs only the laptop has: the cluster answers MISSING, the laptop uploads them and tries once more', async () => {
    const w = await world();
    const spec: ActionSpec = {
      args: ['sh', '-c', 'cat deep/dir/only-here.txt'],
      inputs: { 'deep/dir/only-here.txt': { data: 'laptop-only input\n' } },
      salt: 'forward-missing',
    };
    const { actionDigest } = await uploadAction(w.laptop.client, spec);
    const { response } = finalResponse(await w.laptop.client.execute({ actionDigest, inlineStdout: true }));
    expect(response.status?.code ?? 0).toBe(status.OK);
    expect(response.result?.stdoutRaw.toString()).toBe('laptop-only input\n');
    // Everything the action needs is on the cluster now.
    const encoded = encodeAction(spec);
    const all = [encoded.action, encoded.command, ...encoded.directories, ...encoded.files].map((b) => digestOf(b));
    expect((await w.cluster.client.findMissingBlobs({ blobDigests: all })).missingBlobDigests).toEqual([]);
    expect(w.laptop.daemon.schedulers.get('MAIN')!.snapshot().counters.retried).toBe(1);
  });

  it('an input neither daemon has stays MISSING for the client, which uploads it to the laptop', async () => {
    const w = await world();
    const spec: ActionSpec = { args: ['sh', '-c', 'cat gone.txt'], inputs: { 'gone.txt': { data: 'nowhere\n' } }, salt: 'forward-missing-everywhere' };
    const encoded = encodeAction(spec);
    // Everything but the file, on the laptop only.
    await w.laptop.client.batchUpdateBlobs({ requests: [encoded.action, encoded.command, ...encoded.directories].map((data) => ({ digest: digestOf(data), data })) });
    const { response } = finalResponse(await w.laptop.client.execute({ actionDigest: digestOf(encoded.action) }));
    expect(response.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(missingBlobsOf(response.status!)).toEqual([digestOf(encoded.files[0]!)]);
  });

  it('a property_modifier in front changes the platform the cluster sees (the Action is rewritten); the laptop caches under the client\'s digest', async () => {
    const w = await world({
      laptopScheduler: (grpc) => ({
        kind: 'property_modifier',
        modifications: [{ remove: 'OSFamily' }, { add: { name: 'container-image', value: 'docker://builder' } }],
        scheduler: grpc,
      }),
      editCluster: (c) => {
        asSimple(c.schedulers[0]?.spec).supported_platform_properties = { 'container-image': 'exact' };
        c.workers[0]!.platform_properties = { 'container-image': { values: ['docker://builder'] } };
      },
    });
    // The cluster does not know OSFamily: sent unmodified, it would refuse the action.
    const spec: ActionSpec = { args: ['sh', '-c', 'echo in-the-image'], platform: { OSFamily: 'Linux' }, salt: 'forward-modified' };
    const direct = await uploadAction(w.cluster.client, spec);
    await expect(w.cluster.client.execute({ actionDigest: direct.actionDigest })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });

    const { actionDigest } = await uploadAction(w.laptop.client, spec);
    const { response } = finalResponse(await w.laptop.client.execute({ actionDigest, inlineStdout: true }));
    expect(response.status?.code ?? 0).toBe(status.OK);
    expect(response.result?.stdoutRaw.toString()).toBe('in-the-image\n');
    expect(response.result?.executionMetadata?.worker).toBe(CLUSTER_WORKER);
    expect((await w.laptop.client.getActionResult({ actionDigest })).exitCode).toBe(0);
    // The cluster cached it under the rewritten Action, not the client's.
    await expect(w.cluster.client.getActionResult({ actionDigest })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('stopping the laptop fails its forwarded operations UNAVAILABLE and closes its upstream calls; it takes no worker', async () => {
    const w = await world();
    const dir = await tempDir('ncache-forward-close-', cleanups);
    const gate = join(dir, 'gate');
    const { actionDigest } = await uploadBoth(w, { args: ['sh', '-c', waitForGate(gate)], salt: 'forward-close' });
    const client = watchOperations(w.laptop.client.executeStream({ actionDigest }));
    await client.stage(STAGE_EXECUTING);
    const scheduler = w.laptop.daemon.schedulers.get('MAIN')!;
    expect(scheduler.snapshot().executing).toMatchObject([{ stage: 'executing', worker: `grpc://127.0.0.1:${w.proxy.port}` }]);
    expect(() => scheduler.addWorker({ id: 'w', properties: {}, slots: 1, run: () => Promise.reject(new Error('unused')) })).toThrow(
      /worker "w" cannot serve scheduler "MAIN": it is a grpc scheduler, which forwards every action to grpc:\/\/127\.0\.0\.1:\d+ and runs none itself/,
    );
    await scheduler.close();
    const { response } = finalResponse(await client.ended);
    expect(response.status).toMatchObject({ code: status.UNAVAILABLE, message: expect.stringMatching(/daemon stopping/) });
    await waitFor(() => w.proxy.open === 0, { what: 'the laptop to close its connection to the cluster' });
    await writeFile(gate, '');
  });
});
