// Outputs of real runs: files (executable bits, adopted into the filesystem
// tier), directories as Trees (decodable, children deduplicated, parents
// first), symlinks in both the 2.1 and the deprecated fields, output_paths,
// inlining, missing outputs, bad output paths, and the action cache under
// each upload strategy.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { UploadResultsStrategy } from '../../src/config/types.js';
import { ActionResultCodec, DirectoryCodec, TreeCodec } from '../../src/proto/reapi.js';
import { readBuffer } from '../../src/stores/store.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { control, type WorkerFixture, workerFixture } from './worker-fixture.js';

const cleanups = cleanupsAfterEach();
const SH = '/bin/sh';

async function bytes(f: WorkerFixture, digest: Digest | null): Promise<Buffer> {
  if (digest === null) throw new Error('no digest');
  return readBuffer(f.cas, digest);
}

describe('outputs', () => {
  it('stores output files (executable bit kept) by moving them into the filesystem tier', async () => {
    const f = await workerFixture(cleanups);
    const script = 'printf plain > out/plain.txt; printf "#!/bin/sh\\n" > out/tool; chmod 755 out/tool; head -c 3000000 /dev/zero > out/big.bin';
    const job = await f.job({ arguments: [SH, '-c', script], outputFiles: ['out/big.bin', 'out/plain.txt', 'out/tool', 'out/never-written'] }, await f.putTree({}));
    const outcome = await f.worker.run(job, control());
    const files = outcome.result.outputFiles;
    expect(files.map((o) => [o.path, o.isExecutable])).toEqual([
      ['out/big.bin', false],
      ['out/plain.txt', false],
      ['out/tool', true],
    ]);
    const big = files[0]!.digest!;
    expect(big).toEqual(digestOf(Buffer.alloc(3_000_000)));
    // In the filesystem tier as a read-only file, and in the slow tier too.
    const st = await stat(join(f.fs.contentPath, digestKey(big)));
    expect(st.size).toBe(3_000_000);
    expect(st.mode & 0o777).toBe(0o444);
    expect(await f.slow.has([big])).toEqual([3_000_000]);
    expect((await bytes(f, files[1]!.digest)).toString()).toBe('plain');
  });

  it('returns output directories as Trees: root first, each distinct child once, parents before children', async () => {
    const f = await workerFixture(cleanups);
    const script = [
      'mkdir -p out/a/leaf out/b/leaf out/c',
      'echo same > out/a/leaf/f',
      'echo same > out/b/leaf/f',
      'echo top > out/top.txt',
      'ln -s top.txt out/link',
    ].join('; ');
    const job = await f.job({ arguments: [SH, '-c', script], outputDirectories: ['out', 'empty-dir'] }, await f.putTree({}));
    const outcome = await f.worker.run(job, control());
    expect(outcome.result.outputDirectories.map((d) => d.path)).toEqual(['empty-dir', 'out']);
    const [empty, out] = outcome.result.outputDirectories;
    // A legacy output directory exists before the run, so an action that writes nothing still has it.
    const emptyTree = TreeCodec.decode(await bytes(f, empty!.treeDigest));
    expect(emptyTree.root).toEqual({ files: [], directories: [], symlinks: [], nodeProperties: null });
    expect(out!.isTopologicallySorted).toBe(true);
    const tree = TreeCodec.decode(await bytes(f, out!.treeDigest));
    const root = tree.root!;
    expect(root.files.map((x) => x.name)).toEqual(['top.txt']);
    expect(root.directories.map((x) => x.name)).toEqual(['a', 'b', 'c']);
    expect(root.symlinks).toEqual([{ name: 'link', target: 'top.txt', nodeProperties: null }]);
    // a and b are identical, so are their leaves: children are {a=b, c (empty), leaf}, each once.
    const digests = tree.children.map((d) => digestKey(digestOf(DirectoryCodec.encode(d))));
    expect(new Set(digests).size).toBe(digests.length);
    expect(tree.children).toHaveLength(3);
    expect(digestKey(root.directories[0]!.digest!)).toBe(digestKey(root.directories[1]!.digest!));
    // Parents before children: every child's digest is referenced by an earlier Directory (or the root).
    const listed = [root, ...tree.children];
    for (let i = 1; i < listed.length; i++) {
      const key = digests[i - 1]!;
      expect(listed.slice(0, i).some((d) => d.directories.some((s) => digestKey(s.digest!) === key))).toBe(true);
    }
    // The files inside are in the CAS.
    const leaf = tree.children.find((d) => d.files.length === 1)!;
    expect((await bytes(f, leaf.files[0]!.digest)).toString()).toBe('same\n');
  });

  it('reports symlinks in output_symlinks and in the deprecated output_file_symlinks / output_directory_symlinks', async () => {
    const f = await workerFixture(cleanups);
    // A legacy output directory exists before the run: the action replaces it with its symlink.
    const script = 'mkdir -p d; echo x > d/target; ln -s d/target file-link; rmdir dir-link 2>/dev/null; ln -s d dir-link';
    const legacy = await f.worker.run(
      await f.job({ arguments: [SH, '-c', script], outputFiles: ['file-link'], outputDirectories: ['dir-link'] }, await f.putTree({})),
      control(),
    );
    const link = (path: string, target: string) => ({ path, target, nodeProperties: null });
    expect(legacy.result.outputFileSymlinks).toEqual([link('file-link', 'd/target')]);
    expect(legacy.result.outputDirectorySymlinks).toEqual([link('dir-link', 'd')]);
    expect(legacy.result.outputSymlinks).toEqual([link('dir-link', 'd'), link('file-link', 'd/target')]);

    const paths = await f.worker.run(
      await f.job({ arguments: [SH, '-c', script], outputPaths: ['file-link', 'dir-link', 'd/target'] }, await f.putTree({})),
      control(),
    );
    expect(paths.result.outputSymlinks).toEqual([link('dir-link', 'd'), link('file-link', 'd/target')]);
    expect(paths.result.outputDirectorySymlinks).toEqual([link('dir-link', 'd')]);
    expect(paths.result.outputFileSymlinks).toEqual([link('file-link', 'd/target')]);
    expect(paths.result.outputFiles.map((o) => o.path)).toEqual(['d/target']);
    // The deprecated fields survive encoding (Bazel 4 reads only those).
    const decoded = ActionResultCodec.decode(ActionResultCodec.encode(paths.result));
    expect(decoded.outputFileSymlinks).toEqual([link('file-link', 'd/target')]);
  });

  it('inlines stdout, stderr and asked-for output files when small, never in the cached result', async () => {
    const f = await workerFixture(cleanups, {}, { inlineStreamMaxBytes: 10 });
    const script = 'echo short; echo "a much longer line" >&2; printf inline > a.txt; printf other > b.txt';
    const job = await f.job({ arguments: [SH, '-c', script], outputFiles: ['a.txt', 'b.txt'] }, await f.putTree({}), {
      job: { inlineStdout: true, inlineStderr: true, inlineOutputFiles: ['a.txt'] },
    });
    const { result } = await f.worker.run(job, control());
    expect(result.stdoutRaw.toString()).toBe('short\n');
    expect(result.stdoutDigest).toEqual(digestOf(Buffer.from('short\n')));
    expect(result.stderrRaw.length).toBe(0);
    expect((await bytes(f, result.stderrDigest)).toString()).toBe('a much longer line\n');
    expect(result.outputFiles.map((o) => o.contents.toString())).toEqual(['inline', '']);
    const cached = ActionResultCodec.decode(await readBuffer(f.ac, job.actionDigest));
    expect(cached.stdoutRaw.length).toBe(0);
    expect(cached.outputFiles[0]!.contents.length).toBe(0);
  });

  it('fills ExecutedActionMetadata: the worker and every timestamp, in order', async () => {
    const f = await workerFixture(cleanups);
    const job = await f.job({ arguments: ['/bin/true'] }, await f.putTree({}), { job: { queuedAtMs: Date.now() - 1000 } });
    const meta = (await f.worker.run(job, control())).result.executionMetadata!;
    expect(meta.worker).toBe('test-worker');
    const order = [
      meta.queuedTimestamp,
      meta.workerStartTimestamp,
      meta.inputFetchStartTimestamp,
      meta.inputFetchCompletedTimestamp,
      meta.executionStartTimestamp,
      meta.executionCompletedTimestamp,
      meta.outputUploadStartTimestamp,
      meta.outputUploadCompletedTimestamp,
      meta.workerCompletedTimestamp,
    ].map((t) => t!.seconds * 1e9 + t!.nanos);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  describe('refuses bad paths with INVALID_ARGUMENT naming them', () => {
    const cases: [string, object, string][] = [
      ['an absolute output file', { outputFiles: ['/etc/passwd'] }, 'output file "/etc/passwd" is not allowed: it is absolute'],
      ['an output directory with ".."', { outputDirectories: ['a/../../x'] }, 'output directory "a/../../x" is not allowed: it contains ".."'],
      ['an output path with an empty segment', { outputPaths: ['a//b'] }, 'output path "a//b" is not allowed'],
      ['a working directory with ".."', { workingDirectory: '..' }, 'working_directory ".." is not allowed: it contains ".."'],
    ];
    for (const [what, command, message] of cases) {
      it(what, async () => {
        const f = await workerFixture(cleanups);
        const outcome = await f.worker.run(await f.job({ arguments: ['/bin/true'], ...command }, await f.putTree({})), control());
        expect(outcome.status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
        expect(outcome.status.message).toContain(message);
        expect(outcome.result).toBeDefined();
      });
    }
  });
});

describe('the action cache', () => {
  const strategies: [UploadResultsStrategy, boolean, boolean][] = [
    ['success_only', true, false],
    ['never', false, false],
    ['everything', true, true],
    ['failures_only', false, true],
  ];
  for (const [strategy, success, failure] of strategies) {
    it(`upload_ac_results_strategy ${strategy}: success ${success ? 'cached' : 'not cached'}, failure ${failure ? 'cached' : 'not cached'}`, async () => {
      const f = await workerFixture(cleanups, { upload_action_result: { ac_store: 'AC', upload_ac_results_strategy: strategy } });
      const ok = await f.job({ arguments: ['/bin/true'] }, await f.putTree({}));
      const bad = await f.job({ arguments: ['/bin/false'] }, await f.putTree({}));
      await f.worker.run(ok, control());
      await f.worker.run(bad, control());
      expect(await f.ac.has([ok.actionDigest, bad.actionDigest])).toEqual([success ? expect.any(Number) : undefined, failure ? expect.any(Number) : undefined]);
    });
  }

  it('never caches an action marked do_not_cache', async () => {
    const f = await workerFixture(cleanups);
    const job = await f.job({ arguments: ['/bin/true'] }, await f.putTree({}), { action: { doNotCache: true } });
    expect((await f.worker.run(job, control())).result.exitCode).toBe(0);
    expect(await f.ac.has([job.actionDigest])).toEqual([undefined]);
  });

  it('keeps a failed action directory only when keep_failed_action_directories is set', async () => {
    const f = await workerFixture(cleanups, { keep_failed_action_directories: true });
    await f.worker.run(await f.job({ arguments: ['/bin/true'] }, await f.putTree({})), control());
    await f.worker.run(await f.job({ arguments: [SH, '-c', 'echo kept > evidence; exit 1'] }, await f.putTree({})), control());
    const left = (await readdir(f.workDirectory)).filter((n) => !n.startsWith('.'));
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^failed-/);
    expect(await readdir(join(f.workDirectory, left[0]!, 'work'))).toEqual(['evidence']);
  });
});
