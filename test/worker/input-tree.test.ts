// Input trees on real files: nested directories, executable bits, hardlinks
// from the filesystem CAS (same inode), read-only modes, symlinks, blobs only
// the slow tier holds, and every way a tree can be refused.
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { DirectoryCodec, PRECONDITION_FAILURE_TYPE_URL, PreconditionFailureCodec, type Status, StatusCodec } from '../../src/proto/reapi.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { putBuffer } from '../../src/stores/store.js';
import { digestKey, digestOf, formatDigest } from '../../src/util/digest.js';
import { fetchInputTree, DEFAULT_INPUT_TREE_LIMITS } from '../../src/worker/input-tree.js';
import { LocalWorker } from '../../src/worker/local-worker.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { control, workerFixture } from './worker-fixture.js';

const cleanups = cleanupsAfterEach();

function violations(status: Status): { type: string; subject: string }[] {
  expect(status.code).toBe(GrpcStatus.FAILED_PRECONDITION);
  expect(status.details).toHaveLength(1);
  expect(status.details[0]!.typeUrl).toBe(PRECONDITION_FAILURE_TYPE_URL);
  return PreconditionFailureCodec.decode(status.details[0]!.value).violations.map(({ type, subject }) => ({ type, subject }));
}

describe('materializing an input tree', () => {
  it('links files from the filesystem CAS (same inode, read-only), keeps executable bits on separate copies, makes real directories and symlinks', async () => {
    const f = await workerFixture(cleanups);
    const root = await f.putTree({
      a: { b: { c: { 'deep.txt': 'deep' } }, 'tool.sh': { text: '#!/bin/sh\necho tool\n', executable: true } },
      'data.txt': 'data',
      'same.txt': 'data',
      link: { symlink: 'a/b' },
      empty: '',
    });
    const dest = join(f.dir, 'inputs');
    const done = await f.worker.materializeInputs(root, dest);
    expect(done.files).toBe(5);
    expect(done.directories).toBe(3);

    const casFile = (text: string) => join(f.fs.contentPath, digestKey(digestOf(Buffer.from(text))));
    const data = await stat(join(dest, 'data.txt'));
    expect(data.ino).toBe((await stat(casFile('data'))).ino);
    expect((await stat(join(dest, 'same.txt'))).ino).toBe(data.ino);
    expect(data.mode & 0o777).toBe(0o444);
    expect(await readFile(join(dest, 'a/b/c/deep.txt'), 'utf8')).toBe('deep');
    expect((await lstat(join(dest, 'a/b'))).isDirectory()).toBe(true);

    const tool = await stat(join(dest, 'a/tool.sh'));
    expect(tool.mode & 0o777).toBe(0o555);
    // Never the CAS file itself: its mode stays read-only, not executable.
    const casTool = await stat(casFile('#!/bin/sh\necho tool\n'));
    expect(tool.ino).not.toBe(casTool.ino);
    expect(casTool.mode & 0o111).toBe(0);
    expect(await readlink(join(dest, 'link'))).toBe('a/b');
    expect((await stat(join(dest, 'empty'))).size).toBe(0);
  });

  it('fetches a blob only the slow tier holds into the fast tier, then links it', async () => {
    const f = await workerFixture(cleanups);
    const bytes = Buffer.from('only in the slow tier');
    const digest = digestOf(bytes);
    await putBuffer(f.slow, digest, bytes);
    const root = await f.put(DirectoryCodec.encode({ files: [{ name: 'slow.txt', digest }] }));
    const dest = join(f.dir, 'inputs');
    await f.worker.materializeInputs(root, dest);
    expect(await f.fs.has([digest])).toEqual([bytes.length]);
    expect((await stat(join(dest, 'slow.txt'))).ino).toBe((await stat(join(f.fs.contentPath, digestKey(digest)))).ino);
  });

  it('copies (read-only) when the CAS has no filesystem tier', async () => {
    const dir = await tempDir('ncache-worker-copy-', cleanups);
    const cas = new MemoryStore();
    const put = async (data: Buffer) => {
      const d = digestOf(data);
      await putBuffer(cas, d, data);
      return d;
    };
    const file = await put(Buffer.from('copied'));
    const root = await put(DirectoryCodec.encode({ files: [{ name: 'f', digest: file }, { name: 'x', digest: file, isExecutable: true }] }));
    const worker = new LocalWorker({
      id: 'w',
      cas,
      spec: {
        kind: 'local',
        worker_api_endpoint: { uri: 'grpc://127.0.0.1:1' },
        cas_fast_slow_store: 'CAS',
        work_directory: join(dir, 'work'),
        platform_properties: {},
        upload_action_result: {},
        max_action_timeout: 60,
      },
    });
    await worker.materializeInputs(root, join(dir, 'in'));
    expect(await readFile(join(dir, 'in/f'), 'utf8')).toBe('copied');
    expect((await stat(join(dir, 'in/f'))).mode & 0o777).toBe(0o444);
    expect((await stat(join(dir, 'in/x'))).mode & 0o777).toBe(0o555);
  });

  it('reports every missing blob, Directories and files, as MISSING violations "blobs/{hash}/{size}"', async () => {
    const f = await workerFixture(cleanups);
    const absentFile = digestOf(Buffer.from('never uploaded'));
    const absentDir = digestOf(DirectoryCodec.encode({ files: [{ name: 'x', digest: digestOf(Buffer.from('x')) }] }));
    const present = await f.put('present');
    const root = await f.put(
      DirectoryCodec.encode({
        files: [
          { name: 'a', digest: absentFile },
          { name: 'b', digest: present },
        ],
        directories: [{ name: 'sub', digest: absentDir }],
      }),
    );
    const job = await f.job({ arguments: ['/bin/true'] }, root);
    const outcome = await f.worker.run(job, control());
    expect(violations(outcome.status).sort((a, b) => a.subject.localeCompare(b.subject))).toEqual(
      [absentFile, absentDir].map((d) => ({ type: 'MISSING', subject: `blobs/${d.hash}/${d.sizeBytes}` })).sort((a, b) => a.subject.localeCompare(b.subject)),
    );
    expect(outcome.result).toBeDefined();
    expect(outcome.status.message).toContain(formatDigest(absentFile).slice(0, 10));
  });

  it('keeps the violations through the wire encoding of the status (the Any keeps its type URL)', async () => {
    const f = await workerFixture(cleanups);
    const absent = digestOf(Buffer.from('absent'));
    const root = await f.put(DirectoryCodec.encode({ files: [{ name: 'a', digest: absent }] }));
    const outcome = await f.worker.run(await f.job({ arguments: ['/bin/true'] }, root), control());
    const onTheWire = StatusCodec.decode(StatusCodec.encode(outcome.status));
    expect(violations(onTheWire)).toEqual([{ type: 'MISSING', subject: `blobs/${absent.hash}/${absent.sizeBytes}` }]);
  });

  it('reports a missing input root as MISSING', async () => {
    const f = await workerFixture(cleanups);
    const root = digestOf(DirectoryCodec.encode({ files: [{ name: 'gone', digest: digestOf(Buffer.from('gone')) }] }));
    const outcome = await f.worker.run(await f.job({ arguments: ['/bin/true'] }, root), control());
    expect(violations(outcome.status)).toEqual([{ type: 'MISSING', subject: `blobs/${root.hash}/${root.sizeBytes}` }]);
  });

  describe('refuses a bad tree with INVALID_ARGUMENT naming what is wrong', () => {
    const cases: [string, (put: (s: string) => Promise<ReturnType<typeof digestOf>>) => Promise<Buffer>, string][] = [
      ['a ".." name', async (put) => DirectoryCodec.encode({ files: [{ name: '..', digest: await put('x') }] }), 'named ".."'],
      ['a name with a slash', async (put) => DirectoryCodec.encode({ files: [{ name: 'a/b', digest: await put('x') }] }), 'named "a/b"'],
      ['an empty name', async (put) => DirectoryCodec.encode({ files: [{ name: '', digest: await put('x') }] }), 'named ""'],
      [
        'unsorted files',
        async (put) => DirectoryCodec.encode({ files: [{ name: 'b', digest: await put('x') }, { name: 'a', digest: await put('y') }] }),
        'its files are not sorted',
      ],
      [
        'a name listed as a file and a directory',
        async (put) =>
          DirectoryCodec.encode({ files: [{ name: 'a', digest: await put('x') }], directories: [{ name: 'a', digest: digestOf(Buffer.alloc(0)) }] }),
        'lists the name "a" twice',
      ],
      ['bytes that are not a Directory', async () => Buffer.from([0xff, 0xff, 0xff]), 'is not a valid Directory message'],
    ];
    for (const [what, build, message] of cases) {
      it(what, async () => {
        const f = await workerFixture(cleanups);
        const root = await f.put(await build((s) => f.put(s)));
        const outcome = await f.worker.run(await f.job({ arguments: ['/bin/true'] }, root), control());
        expect(outcome.status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
        expect(outcome.status.message).toContain(message);
      });
    }

    it('a tree deeper than max_input_tree_depth, or with more entries than max_input_tree_entries', async () => {
      const f = await workerFixture(cleanups, { max_input_tree_depth: 2, max_input_tree_entries: 3 });
      const deep = await f.putTree({ a: { b: { c: { 'f.txt': 'x' } } } });
      const tooDeep = await f.worker.run(await f.job({ arguments: ['/bin/true'] }, deep), control());
      expect(tooDeep.status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(tooDeep.status.message).toContain('a/b/c is 3 directories deep; the worker allows at most 2');
      const wide = await f.putTree({ a: '1', b: '2', c: '3', d: '4' });
      const tooWide = await f.worker.run(await f.job({ arguments: ['/bin/true'] }, wide), control());
      expect(tooWide.status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(tooWide.status.message).toContain('more than 3 entries');
    });
  });

  it('reads each distinct Directory once however often the tree repeats it', async () => {
    const f = await workerFixture(cleanups);
    const sub = await f.putTree({ 'x.txt': 'x' });
    const root = await f.put(DirectoryCodec.encode({ directories: ['a', 'b', 'c'].map((name) => ({ name, digest: sub })) }));
    const tree = await fetchInputTree(f.cas, root, DEFAULT_INPUT_TREE_LIMITS);
    expect(tree.files.map((x) => x.path)).toEqual(['a/x.txt', 'b/x.txt', 'c/x.txt']);
    expect(tree.directories).toEqual(['a', 'b', 'c']);
  });
});
