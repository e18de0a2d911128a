// Actions built and run through ncache's Execution service from a grpc-js
// client, for the execution benchmark: a wide input tree of distinct small
// files, tiny commands over it, and the ExecuteResponse of each run with the
// client's own send time beside the worker's timestamps.
import {
  ActionCodec,
  CommandCodec,
  DirectoryCodec,
  ExecuteResponseCodec,
  type ActionResult,
  type Digest,
  type DirectoryNode,
  type FileNode,
} from '../src/proto/reapi.js';
import { digestOf } from '../src/util/digest.js';
import type { ReapiClient } from '../test/helpers/grpc-client.js';

const FILES_PER_DIRECTORY = 100;
const FILE_BYTES = 200;
/** Blobs per BatchUpdateBlobs call: well under the 4 MiB gRPC message default. */
const BATCH_BYTES = 2 * 1024 * 1024;

export interface UploadedTree {
  root: Digest;
  files: number;
  directories: number;
}

async function uploadBlobs(client: ReapiClient, blobs: readonly { digest: Digest; data: Buffer }[]): Promise<void> {
  let batch: { digest: Digest; data: Buffer }[] = [];
  let bytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const { responses } = await client.batchUpdateBlobs({ requests: batch });
    const failed = responses.filter((r) => (r.status?.code ?? 0) !== 0);
    if (failed.length > 0) throw new Error(`BatchUpdateBlobs refused ${failed.length} blob(s): ${failed[0]!.status?.message ?? ''}`);
    batch = [];
    bytes = 0;
  };
  for (const blob of blobs) {
    if (bytes + blob.data.length > BATCH_BYTES) await flush();
    batch.push(blob);
    bytes += blob.data.length;
  }
  await flush();
}

const blobOf = (data: Buffer) => ({ digest: digestOf(data), data });
const name = (prefix: string, i: number) => `${prefix}${String(i).padStart(4, '0')}`;

/**
 * Uploads `files` distinct files of 200 bytes, 100 per directory, and their
 * canonical Directory messages (names sorted); `label` makes every byte, and
 * so every digest, new.
 */
export async function uploadInputTree(client: ReapiClient, files: number, label: string): Promise<UploadedTree> {
  const blobs: { digest: Digest; data: Buffer }[] = [];
  const subdirectories: DirectoryNode[] = [];
  const directories = Math.ceil(files / FILES_PER_DIRECTORY);
  for (let d = 0; d < directories; d++) {
    const nodes: FileNode[] = [];
    for (let f = 0; f < FILES_PER_DIRECTORY && d * FILES_PER_DIRECTORY + f < files; f++) {
      const blob = blobOf(Buffer.from(`${label} input ${d}/${f}\n`.padEnd(FILE_BYTES - 1, '.') + '\n'));
      blobs.push(blob);
      nodes.push({ name: name('f', f), digest: blob.digest, isExecutable: false, nodeProperties: null });
    }
    const dir = blobOf(DirectoryCodec.encode({ files: nodes }));
    blobs.push(dir);
    subdirectories.push({ name: name('d', d), digest: dir.digest });
  }
  const root = blobOf(DirectoryCodec.encode({ directories: subdirectories }));
  blobs.push(root);
  await uploadBlobs(client, blobs);
  return { root: root.digest, files, directories };
}

export interface ExecuteRun {
  result: ActionResult;
  /** Client clock (ms since the epoch) just before the Execute call: comparable with the daemon's timestamps on one machine. */
  sentAtMs: number;
  /** Client clock when the final Operation arrived. */
  doneAtMs: number;
}

export interface CommandSpec {
  arguments: string[];
  inputRoot: Digest;
}

/**
 * Uploads the Command and Action and runs it with skip_cache_lookup, so it
 * always executes; throws unless it completed with exit code 0.
 */
export async function executeCommand(client: ReapiClient, spec: CommandSpec): Promise<ExecuteRun> {
  const command = blobOf(
    CommandCodec.encode({ arguments: spec.arguments, environmentVariables: [{ name: 'PATH', value: '/bin:/usr/bin' }] }),
  );
  const action = blobOf(ActionCodec.encode({ commandDigest: command.digest, inputRootDigest: spec.inputRoot, doNotCache: true }));
  await uploadBlobs(client, [command, action]);
  const sentAtMs = Date.now();
  const operations = await client.execute({ actionDigest: action.digest, skipCacheLookup: true });
  const doneAtMs = Date.now();
  const last = operations.at(-1);
  const what = `Execute of ${spec.arguments.join(' ')}`;
  if (last === undefined || !last.done) throw new Error(`${what}: the stream ended before the operation was done`);
  if (last.error) throw new Error(`${what}: operation error ${last.error.code}: ${last.error.message}`);
  if (!last.response) throw new Error(`${what}: a done operation without a response`);
  const response = ExecuteResponseCodec.decode(last.response.value);
  if ((response.status?.code ?? 0) !== 0) throw new Error(`${what}: status ${response.status?.code}: ${response.status?.message} ${response.message}`);
  if (response.result === null) throw new Error(`${what}: no result`);
  if (response.result.exitCode !== 0) throw new Error(`${what}: exit code ${response.result.exitCode}`);
  return { result: response.result, sentAtMs, doneAtMs };
}
