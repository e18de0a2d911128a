// The Execution service's answers that need no worker: bad requests refused
// as the call's status, missing blobs as a done operation Bazel re-uploads
// for, cache hits, unknown operation names, a scheduler with no worker, and a
// daemon stopping under a waiting client. Real gRPC over loopback.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Digest, digestOf, formatDigest } from '../../src/util/digest.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { waitFor } from '../helpers/wait-for.js';
import { decodeOperation, encodeAction, finalResponse, firstOperation, missingBlobsOf, stagesOf, uploadAction } from './execution-helpers.js';
import { type Fixture, type FixtureOptions, startFixture } from './fixture.js';
import { asSimple } from '../scheduler/scripted-worker.js';

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

/** A daemon with an execution service and a scheduler no worker serves; it gives up on an action after 1 s. */
async function start(opts: FixtureOptions = {}): Promise<Fixture> {
  fixture = await startFixture({
    execution: true,
    ...opts,
    edit: (config) => {
      asSimple(config.schedulers[0]?.spec).worker_timeout_s = 1;
      opts.edit?.(config);
    },
  });
  return fixture;
}

describe('Execute: requests refused before anything is queued', () => {
  it('an unknown instance, a digest function other than SHA-256, a missing action_digest', async () => {
    const f = await start();
    await expect(f.client.execute({ instanceName: 'elsewhere', actionDigest: digestOf(Buffer.from('a')) })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /unknown instance name "elsewhere" for the execution service/),
    );
    await expect(f.client.execute({ actionDigest: digestOf(Buffer.from('a')), digestFunction: 7 })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /digest function 7 is not supported/),
    );
    await expect(f.client.execute({ skipCacheLookup: true })).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /action_digest is required/));
  });

  it('an Action or Command that is not a valid proto names its digest', async () => {
    const f = await start();
    const junk = Buffer.from([0xff, 0xff, 0xff]);
    const junkDigest = await f.client.uploadBlob(junk);
    await expect(f.client.execute({ actionDigest: junkDigest, skipCacheLookup: true })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, new RegExp(`the blob ${formatDigest(junkDigest)} is not a valid Action message`)),
    );
    // A valid Action whose command_digest names the junk blob.
    const encoded = encodeAction({ args: ['true'] });
    const { ActionCodec } = await import('../../src/proto/reapi.js');
    const action = ActionCodec.encode({ commandDigest: junkDigest, inputRootDigest: encoded.root });
    await f.client.batchUpdateBlobs({ requests: [action, ...encoded.directories].map((data) => ({ digest: digestOf(data), data })) });
    await expect(f.client.execute({ actionDigest: digestOf(action), skipCacheLookup: true })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, new RegExp(`the blob ${formatDigest(junkDigest)} is not a valid Command message`)),
    );
  });

  it('output paths and a working directory that leave the input root, empty arguments, a negative timeout', async () => {
    const f = await start();
    const refused = async (spec: Parameters<typeof uploadAction>[1], message: RegExp) => {
      const { actionDigest } = await uploadAction(f.client, spec);
      await expect(f.client.execute({ actionDigest, skipCacheLookup: true }), String(message)).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, message));
    };
    await refused({ args: ['true'], command: { outputFiles: ['/etc/passwd'] } }, /output_files\[0\]: "\/etc\/passwd" is absolute/);
    await refused({ args: ['true'], command: { outputFiles: ['ok', 'a/../../b'] } }, /output_files\[1\]: "a\/..\/..\/b" contains ".."/);
    await refused({ args: ['true'], command: { outputDirectories: ['../up'] } }, /output_directories\[0\]: "..\/up" contains ".."/);
    await refused({ args: ['true'], command: { outputPaths: ['x//y'] } }, /output_paths\[0\]: "x\/\/y" has an empty or "." segment/);
    await refused({ args: ['true'], command: { workingDirectory: '../outside' } }, /working_directory: "..\/outside" contains ".."/);
    await refused({ args: ['true'], command: { workingDirectory: '/abs' } }, /working_directory: "\/abs" is absolute/);
    await refused({ args: [] }, /arguments is empty; nothing to run/);
    // A Duration with negative seconds (Bazel never sends one; the proto allows it).
    const { ActionCodec } = await import('../../src/proto/reapi.js');
    const encoded = encodeAction({ args: ['true'] });
    const action = ActionCodec.encode({ ...ActionCodec.decode(encoded.action), timeout: { seconds: -5, nanos: 0 } });
    await f.client.batchUpdateBlobs({ requests: [action, encoded.command, ...encoded.directories].map((data) => ({ digest: digestOf(data), data })) });
    await expect(f.client.execute({ actionDigest: digestOf(action), skipCacheLookup: true })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /timeout must be a non-negative duration, got -5s/),
    );
  });

  it('a platform property the scheduler does not support is INVALID_ARGUMENT naming it', async () => {
    const f = await start({ edit: (c) => (asSimple(c.schedulers[0]?.spec).supported_platform_properties = { cpu_count: 'minimum' }) });
    const { actionDigest } = await uploadAction(f.client, { args: ['true'], platform: { OSFamily: 'Windows' } });
    await expect(f.client.execute({ actionDigest })).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /OSFamily/));
    // Bazel 4 puts the platform in the Command too: with no (or an empty) Action.platform, the Command's applies.
    const { ActionCodec } = await import('../../src/proto/reapi.js');
    const encoded = encodeAction({ args: ['true'], command: { platform: { properties: [{ name: 'container-image', value: 'x' }] } } });
    const emptyPlatform = ActionCodec.encode({ ...ActionCodec.decode(encoded.action), platform: { properties: [] } });
    await f.client.batchUpdateBlobs({ requests: [encoded.action, emptyPlatform, encoded.command, ...encoded.directories].map((data) => ({ digest: digestOf(data), data })) });
    for (const action of [encoded.action, emptyPlatform]) {
      await expect(f.client.execute({ actionDigest: digestOf(action) })).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /container-image/));
    }
  });
});

describe('Execute: blobs the CAS lacks', () => {
  it('a missing Action is a done operation, FAILED_PRECONDITION with a MISSING violation Bazel re-uploads', async () => {
    const f = await start();
    const absent = digestOf(Buffer.from('an action nobody uploaded'));
    const ops = await f.client.execute({ actionDigest: absent });
    expect(ops).toHaveLength(1);
    expect(stagesOf(ops)).toEqual(['COMPLETED']);
    const { response } = finalResponse(ops);
    expect(response.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(response.status?.message).toMatch(new RegExp(`not in the CAS: the Action ${formatDigest(absent)}`));
    expect(missingBlobsOf(response.status!)).toEqual([absent]);
    expect(response.cachedResult).toBe(false);
    expect(decodeOperation(ops[0]!).metadata.actionDigest).toEqual(absent);
  });

  it('a missing Command and input root are named together; after uploading them the action is queued', async () => {
    const f = await start();
    const spec = { args: ['true'], inputs: { 'a.txt': { data: 'a' } }, salt: 'missing-command' };
    const encoded = encodeAction(spec);
    const actionDigest = await f.client.uploadBlob(encoded.action);
    const { response } = finalResponse(await f.client.execute({ actionDigest }));
    expect(response.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(missingBlobsOf(response.status!)).toEqual([digestOf(encoded.command), encoded.root]);
    // What Bazel does next: upload what was named, and Execute again.
    await uploadAction(f.client, spec);
    const stream = f.client.executeStream({ actionDigest });
    expect(decodeOperation(await firstOperation(stream)).metadata.stage).toBe(2); // QUEUED
  });
});

describe('Execute: the action cache', () => {
  async function cachedAction(f: Fixture, exitCode: number): Promise<{ actionDigest: Digest; out: Digest }> {
    const { actionDigest } = await uploadAction(f.client, { args: ['true'], salt: `cached-${exitCode}` });
    const out = await f.client.uploadBlob(Buffer.from(`output of ${exitCode}`));
    await f.client.updateActionResult({ actionDigest, actionResult: { exitCode, outputFiles: [{ path: 'out', digest: out }] } });
    return { actionDigest, out };
  }

  it('a hit answers at once, done, cached_result true, with stdout inlined when asked; counted for stats', async () => {
    const f = await start();
    const { actionDigest, out } = await cachedAction(f, 0);
    const ops = await f.client.execute({ actionDigest, inlineOutputFiles: ['out'] });
    expect(stagesOf(ops)).toEqual(['COMPLETED']);
    const { response } = finalResponse(ops);
    expect(response.cachedResult).toBe(true);
    expect(response.status?.code ?? 0).toBe(status.OK);
    expect(response.result?.outputFiles).toEqual([expect.objectContaining({ path: 'out', digest: out, contents: Buffer.from('output of 0') })]);
    expect(f.daemon.executeCounters).toMatchObject({ requests: 1, cacheHits: 1 });
  });

  it('skip_cache_lookup, and a cached failure (Bazel runs those again), go to the scheduler', async () => {
    const f = await start();
    const ok = await cachedAction(f, 0);
    const failed = await cachedAction(f, 1);
    for (const req of [{ actionDigest: ok.actionDigest, skipCacheLookup: true }, { actionDigest: failed.actionDigest }]) {
      const stream = f.client.executeStream(req);
      expect(decodeOperation(await firstOperation(stream)).metadata.stage).toBe(2); // QUEUED
    }
    expect(f.daemon.executeCounters).toMatchObject({ requests: 2, cacheHits: 0, queued: 2 });
  });

  it('a result whose outputs left the CAS is not a hit (the action cache completeness rule)', async () => {
    const f = await start();
    const { actionDigest } = await uploadAction(f.client, { args: ['true'], salt: 'incomplete' });
    const gone = digestOf(Buffer.from('never uploaded'));
    await f.client.updateActionResult({ actionDigest, actionResult: { exitCode: 0, outputFiles: [{ path: 'out', digest: gone }] } });
    const stream = f.client.executeStream({ actionDigest });
    expect(decodeOperation(await firstOperation(stream)).metadata.stage).toBe(2); // QUEUED, not a cached COMPLETED
  });
});

describe('Execute with no worker, WaitExecution, and stopping', () => {
  it("a scheduler no worker serves answers with the scheduler's error after a bounded wait, in ExecuteResponse.status", async () => {
    const f = await start();
    const { actionDigest } = await uploadAction(f.client, { args: ['true'], salt: 'no-worker' });
    const ops = await f.client.execute({ actionDigest });
    expect(stagesOf(ops)).toEqual(['QUEUED', 'COMPLETED']);
    const { name, response } = finalResponse(ops);
    expect(response.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(response.status?.message).toMatch(/has no workers, so nothing can run this action/);
    // Retained: WaitExecution on the finished operation answers its end state at once.
    const again = await f.client.waitExecution(name);
    expect(stagesOf(again)).toEqual(['COMPLETED']);
    expect(finalResponse(again).response.status?.code).toBe(status.FAILED_PRECONDITION);
  });

  it('WaitExecution for an unknown name is NOT_FOUND (Bazel then calls Execute again)', async () => {
    const f = await start();
    await expect(f.client.waitExecution('operations/00000000-0000-0000-0000-000000000000')).rejects.toEqual(
      grpcError(status.NOT_FOUND, /no operation named "operations\/00000000-0000-0000-0000-000000000000"/),
    );
  });

  it('WaitExecution re-attaches to a queued operation after its Execute stream went away', async () => {
    // Long enough for the client to come back while it is still queued, on a loaded machine too.
    const f = await start({ edit: (c) => (asSimple(c.schedulers[0]?.spec).worker_timeout_s = 4) });
    const { actionDigest } = await uploadAction(f.client, { args: ['true'], salt: 'reattach' });
    const name = decodeOperation(await firstOperation(f.client.executeStream({ actionDigest }))).name;
    const ops = await f.client.waitExecution(name);
    expect(stagesOf(ops)).toEqual(['QUEUED', 'COMPLETED']);
    expect(finalResponse(ops).name).toBe(name);
  });

  it('stopping the daemon answers a waiting client UNAVAILABLE (Bazel retries) and the stop is not held open', async () => {
    const f = await start({ edit: (c) => (asSimple(c.schedulers[0]?.spec).worker_timeout_s = 600) });
    const { actionDigest } = await uploadAction(f.client, { args: ['true'], salt: 'stopping' });
    const ops: unknown[] = [];
    const stream = f.client.executeStream({ actionDigest });
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (op) => ops.push(op));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    await waitFor(() => ops.length === 1, { what: 'the QUEUED operation' });
    // A 60 s grace: only the scheduler closing its operations ends the stream in time.
    const stopping = f.daemon.stop({ graceMs: 60_000 });
    await ended;
    await stopping;
    const { response } = finalResponse(ops as never);
    expect(response.status?.code).toBe(status.UNAVAILABLE);
    expect(response.status?.message).toMatch(/daemon stopping/);
  });
});

describe('Capabilities with execution', () => {
  it('exec_enabled, SHA-256, any priority', async () => {
    const f = await start({ instanceName: 'main' });
    const caps = await f.client.getCapabilities('main');
    expect(caps.executionCapabilities).toMatchObject({
      digestFunction: 1,
      digestFunctions: [1],
      execEnabled: true,
      executionPriorityCapabilities: { priorities: [{ minPriority: -(2 ** 31), maxPriority: 2 ** 31 - 1 }] },
    });
  });
});
