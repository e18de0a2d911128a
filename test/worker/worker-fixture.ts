// A real local worker on real files for the tests in this directory: a
// filesystem store (the fast tier, on the same filesystem as the work
// directory so inputs are hardlinked) under a fast_slow store whose slow tier
// is a memory store, an AC memory store, and helpers to put input trees,
// Commands and Jobs together.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalWorkerSpec } from '../../src/config/types.js';
import {
  type Action,
  type Command,
  type Directory,
  DirectoryCodec,
  type MessageInit,
  CommandCodec,
  ActionCodec,
} from '../../src/proto/reapi.js';
import type { Job } from '../../src/scheduler/job.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import type { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { putBuffer } from '../../src/stores/store.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { LocalWorker, type LocalWorkerOptions } from '../../src/worker/local-worker.js';
import { startedFilesystemStore } from '../helpers/filesystem-store.js';
import { type Cleanups, tempDir } from '../helpers/temp-dir.js';

/** A file in a tree description: its text, or { text, executable }. */
export type TreeEntry = string | { text: string; executable?: boolean } | { symlink: string } | TreeSpec;
export interface TreeSpec {
  readonly [name: string]: TreeEntry;
}

export interface WorkerFixture {
  readonly dir: string;
  readonly fs: FilesystemStore;
  readonly slow: MemoryStore;
  readonly cas: FastSlowStore;
  readonly ac: MemoryStore;
  readonly worker: LocalWorker;
  readonly workDirectory: string;
  /** Stores bytes in the CAS (both tiers) and returns their digest. */
  put(data: string | Uint8Array): Promise<Digest>;
  /** Stores a tree (files, Directory messages) and returns the root Directory's digest. */
  putTree(tree: TreeSpec): Promise<Digest>;
  /** A job for `command` over the input root `inputRoot`. */
  job(command: MessageInit<Command>, inputRoot: Digest, extra?: { action?: MessageInit<Action>; job?: Partial<Job> }): Promise<Job>;
}

export function isFile(entry: TreeEntry): entry is string | { text: string; executable?: boolean } {
  return typeof entry === 'string' || 'text' in entry;
}

export async function workerFixture(
  cleanups: Cleanups,
  spec: Partial<LocalWorkerSpec> = {},
  options: Partial<LocalWorkerOptions> = {},
): Promise<WorkerFixture> {
  const dir = await tempDir('ncache-worker-', cleanups);
  const { store: fs } = await startedFilesystemStore(cleanups, { dir: join(dir, 'cas') });
  const slow = new MemoryStore();
  const cas = new FastSlowStore(fs, slow);
  const ac = new MemoryStore();
  const workDirectory = join(dir, 'work');
  const worker = new LocalWorker({
    id: 'test-worker',
    spec: {
      kind: 'local',
      worker_api_endpoint: { uri: 'grpc://127.0.0.1:50061' },
      cas_fast_slow_store: 'CAS',
      work_directory: workDirectory,
      platform_properties: {},
      upload_action_result: { ac_store: 'AC', upload_ac_results_strategy: 'success_only' },
      max_action_timeout: 1200,
      ...spec,
    },
    cas,
    ac,
    ...options,
  });
  cleanups.push(() => worker.close());

  const put = async (data: string | Uint8Array) => {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = digestOf(bytes);
    await putBuffer(cas, digest, bytes);
    return digest;
  };
  const putTree = async (tree: TreeSpec): Promise<Digest> => {
    const directory: MessageInit<Directory> = { files: [], directories: [], symlinks: [] };
    const names = Object.keys(tree).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const entry = tree[name]!;
      if (isFile(entry)) {
        const text = typeof entry === 'string' ? entry : entry.text;
        const executable = typeof entry === 'string' ? false : (entry.executable ?? false);
        directory.files!.push({ name, digest: await put(text), isExecutable: executable });
      } else if ('symlink' in entry && typeof entry.symlink === 'string') {
        directory.symlinks!.push({ name, target: entry.symlink });
      } else {
        directory.directories!.push({ name, digest: await putTree(entry as TreeSpec) });
      }
    }
    return put(DirectoryCodec.encode(directory));
  };
  const job = async (command: MessageInit<Command>, inputRoot: Digest, extra: { action?: MessageInit<Action>; job?: Partial<Job> } = {}) => {
    const commandBytes = CommandCodec.encode(command);
    const commandDigest = await put(commandBytes);
    const actionInit: MessageInit<Action> = { commandDigest, inputRootDigest: inputRoot, ...extra.action };
    const actionBytes = ActionCodec.encode(actionInit);
    const actionDigest = await put(actionBytes);
    const decodedCommand = CommandCodec.decode(commandBytes);
    return {
      instanceName: '',
      actionDigest,
      action: ActionCodec.decode(actionBytes),
      command: decodedCommand,
      platform: {},
      timeoutS: 0,
      priority: 0,
      inlineStdout: false,
      inlineStderr: false,
      inlineOutputFiles: [],
      operationName: `operations/${actionDigest.hash.slice(0, 12)}`,
      queuedAtMs: Date.now(),
      attempt: 0,
      ...extra.job,
    };
  };
  return { dir, fs, slow, cas, ac, worker, workDirectory, put, putTree, job };
}

/** Whether a pid is gone (or a zombie: dead, waiting to be reaped by init). */
export async function dead(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

/** A run with no abort. */
export function control(): { signal: AbortSignal } {
  return { signal: new AbortController().signal };
}
