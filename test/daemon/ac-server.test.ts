import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActionResult, type MessageInit, TreeCodec } from '../../src/proto/reapi.js';
import { type Digest, EMPTY_DIGEST, digestOf } from '../../src/util/digest.js';
import { type Fixture, startFixture } from './fixture.js';
import { grpcError } from '../helpers/grpc-matchers.js';

const actionDigest = () => digestOf(randomBytes(32));

describe('ActionCache', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ storeKind: 'filesystem', instanceName: 'main' });
  });
  afterAll(() => f.stop());

  const putBlob = async (data: Buffer): Promise<Digest> => {
    const d = digestOf(data);
    const res = await f.client.batchUpdateBlobs({ instanceName: 'main', requests: [{ digest: d, data }] });
    expect(res.responses[0]!.status?.code).toBe(0);
    return d;
  };

  it('stores and returns an action result; NOT_FOUND before', async () => {
    const action = actionDigest();
    await expect(f.client.getActionResult({ instanceName: 'main', actionDigest: action })).rejects.toEqual(
      grpcError(status.NOT_FOUND, /no action result for action/),
    );
    const out = await putBlob(Buffer.from('compiled'));
    const result: MessageInit<ActionResult> = {
      outputFiles: [{ path: 'bazel-out/a.o', digest: out, isExecutable: true }],
      exitCode: 0,
      executionMetadata: { worker: 'test-worker' },
    };
    const stored = await f.client.updateActionResult({ instanceName: 'main', actionDigest: action, actionResult: result });
    expect(stored.outputFiles[0]!.path).toBe('bazel-out/a.o');
    const got = await f.client.getActionResult({ instanceName: 'main', actionDigest: action });
    expect(got.outputFiles[0]).toMatchObject({ path: 'bazel-out/a.o', digest: out, isExecutable: true });
    expect(got.executionMetadata?.worker).toBe('test-worker');
    // Not inlined unless asked.
    expect(got.outputFiles[0]!.contents.length).toBe(0);
  });

  it('inlines stdout, stderr and the requested output files within the budget', async () => {
    const action = actionDigest();
    const stdout = Buffer.from('hello from stdout');
    const stderr = Buffer.from('warning: something');
    const small = Buffer.from('small output');
    const big = randomBytes(3 * 1024 * 1024); // over the 2 MiB inline budget
    const [dOut, dErr, dSmall, dBig] = await Promise.all([putBlob(stdout), putBlob(stderr), putBlob(small), f.client.uploadBlob(big, 'main')]);
    await f.client.updateActionResult({
      instanceName: 'main',
      actionDigest: action,
      actionResult: {
        outputFiles: [
          { path: 'small.txt', digest: dSmall },
          { path: 'big.bin', digest: dBig },
          { path: 'other.txt', digest: dSmall },
        ],
        stdoutDigest: dOut,
        stderrDigest: dErr,
      },
    });
    const got = await f.client.getActionResult({
      instanceName: 'main',
      actionDigest: action,
      inlineStdout: true,
      inlineStderr: true,
      inlineOutputFiles: ['small.txt', 'big.bin'],
    });
    expect(got.stdoutRaw.toString()).toBe(stdout.toString());
    expect(got.stderrRaw.toString()).toBe(stderr.toString());
    expect(got.outputFiles.find((o) => o.path === 'small.txt')!.contents.toString()).toBe('small output');
    expect(got.outputFiles.find((o) => o.path === 'big.bin')!.contents.length).toBe(0);
    expect(got.outputFiles.find((o) => o.path === 'other.txt')!.contents.length).toBe(0);
    const onlyStderr = await f.client.getActionResult({ instanceName: 'main', actionDigest: action, inlineStderr: true });
    expect(onlyStderr.stdoutRaw.length).toBe(0);
    expect(onlyStderr.stderrRaw.length).toBe(stderr.length);
  });

  it('hides a result whose output is missing from the CAS (completeness)', async () => {
    const action = actionDigest();
    const present = await putBlob(Buffer.from('present output'));
    const neverUploaded = digestOf(Buffer.from('never uploaded'));
    await f.client.updateActionResult({
      instanceName: 'main',
      actionDigest: action,
      actionResult: { outputFiles: [{ path: 'ok', digest: present }, { path: 'lost.o', digest: neverUploaded }] },
    });
    await expect(f.client.getActionResult({ instanceName: 'main', actionDigest: action })).rejects.toEqual(
      grpcError(status.NOT_FOUND, /lost\.o/),
    );
    // Uploading the missing blob makes the entry visible again.
    await putBlob(Buffer.from('never uploaded'));
    expect((await f.client.getActionResult({ instanceName: 'main', actionDigest: action })).outputFiles).toHaveLength(2);
  });

  it('hides a result whose output directory tree lost a file', async () => {
    const action = actionDigest();
    const inTree = digestOf(Buffer.from('file in tree'));
    const treeBytes = TreeCodec.encode({ root: { files: [{ name: 'inner.txt', digest: inTree }] } });
    const tree = await putBlob(treeBytes);
    await f.client.updateActionResult({
      instanceName: 'main',
      actionDigest: action,
      actionResult: { outputDirectories: [{ path: 'gen/dir', treeDigest: tree }], stdoutDigest: EMPTY_DIGEST },
    });
    await expect(f.client.getActionResult({ instanceName: 'main', actionDigest: action })).rejects.toEqual(
      grpcError(status.NOT_FOUND, /inner\.txt in output directory gen\/dir/),
    );
    await putBlob(Buffer.from('file in tree'));
    expect((await f.client.getActionResult({ instanceName: 'main', actionDigest: action })).outputDirectories[0]!.path).toBe('gen/dir');
  });

  it('rejects bad requests with the field named', async () => {
    await expect(f.client.getActionResult({ instanceName: 'main' })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /action_digest is required/),
    );
    await expect(
      f.client.getActionResult({ instanceName: 'main', actionDigest: { hash: 'abc', sizeBytes: 3 } }),
    ).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /action_digest: hash must be/));
    await expect(f.client.updateActionResult({ instanceName: 'main', actionDigest: actionDigest() })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /action_result is required/),
    );
    await expect(
      f.client.updateActionResult({
        instanceName: 'main',
        actionDigest: actionDigest(),
        actionResult: { outputFiles: [{ path: 'x', digest: { hash: 'zz', sizeBytes: 1 } }] },
      }),
    ).rejects.toEqual(grpcError(status.INVALID_ARGUMENT, /action_result.output_files\[0\].digest/));
    await expect(f.client.getActionResult({ instanceName: '', actionDigest: actionDigest() })).rejects.toEqual(
      grpcError(status.INVALID_ARGUMENT, /unknown instance name ""/),
    );
  });
});

describe('ActionCache read_only', () => {
  it('refuses UpdateActionResult with PERMISSION_DENIED and still serves reads', async () => {
    const f = await startFixture({ readOnlyAc: true, completeness: false });
    try {
      const action = actionDigest();
      await expect(f.client.updateActionResult({ instanceName: '', actionDigest: action, actionResult: { exitCode: 1 } })).rejects.toEqual(
        grpcError(status.PERMISSION_DENIED, /read-only/),
      );
      await expect(f.client.getActionResult({ instanceName: '', actionDigest: action })).rejects.toEqual(grpcError(status.NOT_FOUND));
    } finally {
      await f.stop();
    }
  });
});
