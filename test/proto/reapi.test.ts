import { describe, expect, it } from 'vitest';
import {
  ActionResultCodec,
  DigestCodec,
  DirectoryCodec,
  FindMissingBlobsRequestCodec,
  OperationCodec,
  ServerCapabilitiesCodec,
  TreeCodec,
  WriteRequestCodec,
  codecFor,
  serviceDefinition,
} from '../../src/proto/reapi.js';
import { EMPTY_SHA256, sha256 } from '../../src/util/digest.js';

const HASH = 'ab'.repeat(32);

describe('reapi codecs', () => {
  it('encodes a Digest exactly as the REAPI wire format', () => {
    const bytes = DigestCodec.encode({ hash: 'ab', sizeBytes: 300 });
    // field 1 (string, len 2) then field 2 (varint 300 = 0xac 0x02)
    expect([...bytes]).toEqual([0x0a, 0x02, 0x61, 0x62, 0x10, 0xac, 0x02]);
  });

  it('leaves default-valued scalars out (canonical encoding)', () => {
    expect(DigestCodec.encode({ hash: '', sizeBytes: 0 }).length).toBe(0);
    const empty = DirectoryCodec.encode({ files: [], directories: [], symlinks: [], nodeProperties: null });
    expect(empty.length).toBe(0);
    expect(sha256(empty)).toBe(EMPTY_SHA256);
  });

  it('round-trips a decoded message to identical bytes', () => {
    const dir = DirectoryCodec.encode({
      files: [{ name: 'a.txt', digest: { hash: HASH, sizeBytes: 5 }, isExecutable: true }],
      directories: [{ name: 'sub', digest: { hash: HASH, sizeBytes: 0 } }],
      symlinks: [{ name: 'link', target: '../x' }],
    });
    const decoded = DirectoryCodec.decode(dir);
    expect(decoded.files[0]).toMatchObject({ name: 'a.txt', isExecutable: true, digest: { hash: HASH, sizeBytes: 5 } });
    expect(decoded.directories[0]!.digest).toEqual({ hash: HASH, sizeBytes: 0 });
    expect(decoded.nodeProperties).toBeNull();
    expect(DirectoryCodec.encode(decoded).equals(dir)).toBe(true);
  });

  it('decodes with proto3 defaults filled and int64 as numbers', () => {
    const decoded = ActionResultCodec.decode(Buffer.alloc(0));
    expect(decoded.outputFiles).toEqual([]);
    expect(decoded.exitCode).toBe(0);
    expect(Buffer.isBuffer(decoded.stdoutRaw)).toBe(true);
    expect(decoded.stdoutRaw.length).toBe(0);
    expect(decoded.stdoutDigest).toBeNull();
    const big = DigestCodec.decode(DigestCodec.encode({ hash: HASH, sizeBytes: 2 ** 40 + 3 }));
    expect(big.sizeBytes).toBe(2 ** 40 + 3);
    expect(typeof big.sizeBytes).toBe('number');
  });

  it('keeps bytes as views of the input (no copy)', () => {
    const data = Buffer.alloc(100_000, 7);
    const bytes = WriteRequestCodec.encode({ resourceName: 'r', writeOffset: 10, data });
    const decoded = WriteRequestCodec.decode(bytes);
    expect(decoded.data.equals(data)).toBe(true);
    expect(decoded.data.buffer).toBe(bytes.buffer);
    expect(decoded.writeOffset).toBe(10);
    expect(decoded.finishWrite).toBe(false);
  });

  it('encodes packed enums, nested messages and a Tree', () => {
    const caps = ServerCapabilitiesCodec.decode(
      ServerCapabilitiesCodec.encode({
        cacheCapabilities: { digestFunctions: [1], maxBatchTotalSizeBytes: 4_000_000, actionCacheUpdateCapabilities: { updateEnabled: true } },
        lowApiVersion: { major: 2 },
        highApiVersion: { major: 2, minor: 3 },
      }),
    );
    expect(caps.cacheCapabilities!.digestFunctions).toEqual([1]);
    expect(caps.cacheCapabilities!.actionCacheUpdateCapabilities).toEqual({ updateEnabled: true });
    expect(caps.highApiVersion).toEqual({ major: 2, minor: 3, patch: 0, prerelease: '' });
    expect(caps.executionCapabilities).toBeNull();

    const tree = TreeCodec.decode(TreeCodec.encode({ root: { files: [] }, children: [{ files: [{ name: 'f' }] }] }));
    expect(tree.root).toEqual({ files: [], directories: [], symlinks: [], nodeProperties: null });
    expect(tree.children[0]!.files[0]!.name).toBe('f');
  });

  it('handles oneofs and maps', () => {
    const op = OperationCodec.decode(OperationCodec.encode({ name: 'op', done: true, error: { code: 12, message: 'no' } }));
    expect(op.error).toMatchObject({ code: 12, message: 'no' });
    const ExecuteResponse = codecFor<{ serverLogs: Record<string, { humanReadable: boolean }> }>(
      'build.bazel.remote.execution.v2.ExecuteResponse',
    );
    const logs = ExecuteResponse.decode(ExecuteResponse.encode({ serverLogs: { b: { humanReadable: true }, a: {} } }));
    expect(logs.serverLogs.b!.humanReadable).toBe(true);
    expect(Object.keys(logs.serverLogs).sort()).toEqual(['a', 'b']);
  });

  it('reads int64 as numbers, including negative ones, and skips unknown fields', () => {
    const ReadRequest = codecFor<{ resourceName: string; readOffset: number; readLimit: number }>('google.bytestream.ReadRequest');
    const bytes = ReadRequest.encode({ resourceName: 'r', readOffset: -5, readLimit: 2 ** 50 + 1 });
    expect(ReadRequest.decode(bytes)).toEqual({ resourceName: 'r', readOffset: -5, readLimit: 2 ** 50 + 1 });
    // An unknown field 15 (varint) and 16 (length-delimited) are ignored.
    const withUnknown = Buffer.concat([bytes, Buffer.from([0x78, 0x01, 0x82, 0x01, 0x02, 0x61, 0x62])]);
    expect(ReadRequest.decode(withUnknown).readOffset).toBe(-5);
  });

  it('accepts unpacked encodings of packed repeated fields', () => {
    // digest_functions (field 1) written unpacked: tag 0x08 twice.
    const caps = codecFor<{ digestFunctions: number[] }>('build.bazel.remote.execution.v2.CacheCapabilities');
    expect(caps.decode(Buffer.from([0x08, 0x01, 0x08, 0x05])).digestFunctions).toEqual([1, 5]);
    expect(caps.decode(Buffer.from([0x0a, 0x02, 0x01, 0x05])).digestFunctions).toEqual([1, 5]);
  });

  it('sizes short strings with lone surrogates as Buffer.write writes them (U+FFFD)', () => {
    // Found by the resource-name fuzz (seed 11001 case 304): a high surrogate
    // followed by a non-surrogate was counted as a 4-byte pair, so encoding threw.
    for (const name of ['\udb4c\u27a3', 'a\ud800', '\udc00b', '\ud83d\ude80\ud83d']) {
      const bytes = WriteRequestCodec.encode({ resourceName: name, writeOffset: 0, finishWrite: false, data: Buffer.alloc(0) });
      expect(WriteRequestCodec.decode(bytes).resourceName).toBe(Buffer.from(name, 'utf8').toString('utf8'));
    }
  });

  it('rejects truncated input', () => {
    const bytes = DigestCodec.encode({ hash: HASH, sizeBytes: 1 << 20 });
    expect(() => DigestCodec.decode(bytes.subarray(0, bytes.length - 1))).toThrow();
    expect(() => DirectoryCodec.decode(Buffer.from([0x0a, 0x10, 0x0a]))).toThrow();
  });

  it('encodes exactly like protobufjs for messages without default values', () => {
    const result = {
      outputFiles: [
        { path: 'a/b.o', digest: { hash: HASH, sizeBytes: 123456789 }, isExecutable: true, contents: Buffer.from('xyz') },
        { path: 'ünïcödé/文件', digest: { hash: HASH, sizeBytes: 1 } },
      ],
      outputSymlinks: [{ path: 'link', target: '../target' }],
      outputDirectories: [{ path: 'dir', treeDigest: { hash: HASH, sizeBytes: 2 ** 40 }, isTopologicallySorted: true }],
      exitCode: -3,
      stdoutRaw: Buffer.alloc(300, 1),
      stdoutDigest: { hash: HASH, sizeBytes: 300 },
      executionMetadata: {
        worker: 'w',
        queuedTimestamp: { seconds: 1_700_000_000, nanos: 5 },
        virtualExecutionDuration: { seconds: 3, nanos: 1 },
        auxiliaryMetadata: [{ typeUrl: 'type.googleapis.com/x', value: Buffer.from([1, 2, 3]) }],
      },
    };
    const ours = ActionResultCodec.encode(result);
    const theirs = ActionResultCodec.type.encode(ActionResultCodec.type.fromObject(result)).finish();
    expect(Buffer.from(theirs).equals(ours)).toBe(true);
    const back = ActionResultCodec.decode(ours);
    expect(back.exitCode).toBe(-3);
    expect(back.outputFiles[1]!.path).toBe('ünïcödé/文件');
    expect(back.outputDirectories[0]!.treeDigest!.sizeBytes).toBe(2 ** 40);
    expect(back.executionMetadata!.queuedTimestamp).toEqual({ seconds: 1_700_000_000, nanos: 5 });
    expect(back.executionMetadata!.auxiliaryMetadata).toEqual([{ typeUrl: 'type.googleapis.com/x', value: Buffer.from([1, 2, 3]) }]);
    expect(ActionResultCodec.encode(back).equals(ours)).toBe(true);

    const command = { arguments: ['sh', '-c', 'echo hi'], environmentVariables: [{ name: 'PATH', value: '/bin' }], outputPaths: ['out'], outputDirectoryFormat: 2 };
    const CommandCodec = codecFor('build.bazel.remote.execution.v2.Command');
    expect(CommandCodec.encode(command).equals(Buffer.from(CommandCodec.type.encode(CommandCodec.type.fromObject(command)).finish()))).toBe(true);
  });

  it('decodes 10,000 digests quickly enough for FindMissingBlobs', () => {
    const digests = Array.from({ length: 10_000 }, (_, i) => ({ hash: sha256(String(i)), sizeBytes: i }));
    const bytes = FindMissingBlobsRequestCodec.encode({ instanceName: 'x', blobDigests: digests });
    const decoded = FindMissingBlobsRequestCodec.decode(bytes);
    expect(decoded.blobDigests.length).toBe(10_000);
    expect(decoded.blobDigests[9_999]).toEqual(digests[9_999]);
  });
});

describe('service definitions', () => {
  it('describes each method with its path, streaming flags and codecs', () => {
    const bs = serviceDefinition('bytestream');
    expect(bs.read.path).toBe('/google.bytestream.ByteStream/Read');
    expect(bs.read.responseStream).toBe(true);
    expect(bs.read.requestStream).toBe(false);
    expect(bs.write.requestStream).toBe(true);
    expect(bs.write.originalName).toBe('Write');
    const cas = serviceDefinition('cas');
    expect(Object.keys(cas).sort()).toEqual(['batchReadBlobs', 'batchUpdateBlobs', 'findMissingBlobs', 'getTree']);
    expect(cas.getTree.path).toBe('/build.bazel.remote.execution.v2.ContentAddressableStorage/GetTree');
    const health = serviceDefinition('health');
    expect(health.watch.path).toBe('/grpc.health.v1.Health/Watch');
    const bytes = cas.findMissingBlobs.requestSerialize({ instanceName: 'i', blobDigests: [{ hash: HASH, sizeBytes: 1 }] });
    expect(cas.findMissingBlobs.requestDeserialize(bytes)).toEqual({
      instanceName: 'i',
      blobDigests: [{ hash: HASH, sizeBytes: 1 }],
      digestFunction: 0,
    });
  });
});
