// What a REAPI client does before and after Execute, for the execution
// tests: input trees and Commands uploaded as canonical protos, and the
// Operations that come back decoded (metadata stage, ExecuteResponse).
import {
  ActionCodec,
  type Command,
  CommandCodec,
  type Directory,
  DirectoryCodec,
  type ExecuteOperationMetadata,
  ExecuteOperationMetadataCodec,
  type ExecuteResponse,
  ExecuteResponseCodec,
  type MessageInit,
  type Operation,
  PreconditionFailureCodec,
  type Status,
} from '../../src/proto/reapi.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { type ClientReadableStream, status as grpcStatus } from '@grpc/grpc-js';
import type { ReapiClient } from '../helpers/grpc-client.js';

/** A file of the input tree: its bytes, and whether it is executable. */
export interface InputFile {
  data: string | Buffer;
  executable?: boolean;
}

export interface ActionSpec {
  /** argv; the Command's other fields come from `command`. */
  args: string[];
  command?: Omit<MessageInit<Command>, 'arguments'>;
  /** Path (with "/") -> file. */
  inputs?: Record<string, InputFile>;
  /** Action.platform properties. */
  platform?: Record<string, string>;
  timeoutS?: number;
  doNotCache?: boolean;
  /** Makes the action digest unique, so tests do not share cache entries. */
  salt?: string;
}

export interface UploadedAction {
  readonly actionDigest: Digest;
  readonly commandDigest: Digest;
  readonly inputRootDigest: Digest;
  /** Every blob uploaded, by role. */
  readonly blobs: { action: Buffer; command: Buffer };
}

/** Encodes the action's protos (nothing uploaded). */
export function encodeAction(spec: ActionSpec): { action: Buffer; command: Buffer; directories: Buffer[]; files: Buffer[]; root: Digest } {
  const command = CommandCodec.encode({
    arguments: spec.args,
    ...spec.command,
    environmentVariables: spec.command?.environmentVariables ?? [{ name: 'PATH', value: '/usr/bin:/bin' }],
  });
  const directories: Buffer[] = [];
  const files: Buffer[] = [];
  const root = encodeTree(spec.inputs ?? {}, directories, files);
  const properties = Object.entries(spec.platform ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => ({ name, value }));
  const action = ActionCodec.encode({
    commandDigest: digestOf(command),
    inputRootDigest: root,
    timeout: spec.timeoutS === undefined ? null : { seconds: Math.floor(spec.timeoutS), nanos: 0 },
    doNotCache: spec.doNotCache ?? false,
    salt: Buffer.from(spec.salt ?? ''),
    platform: properties.length > 0 ? { properties } : null,
  });
  return { action, command, directories, files, root };
}

/** Uploads the Action, its Command and its input tree; returns their digests. */
export async function uploadAction(client: ReapiClient, spec: ActionSpec, instanceName = ''): Promise<UploadedAction> {
  const encoded = encodeAction(spec);
  const blobs = [encoded.action, encoded.command, ...encoded.directories, ...encoded.files];
  await client.batchUpdateBlobs({ instanceName, requests: blobs.map((data) => ({ digest: digestOf(data), data })) });
  return {
    actionDigest: digestOf(encoded.action),
    commandDigest: digestOf(encoded.command),
    inputRootDigest: encoded.root,
    blobs: { action: encoded.action, command: encoded.command },
  };
}

/** Builds the canonical Directory tree (names sorted) bottom-up; returns the root's digest. */
function encodeTree(inputs: Record<string, InputFile>, directories: Buffer[], files: Buffer[]): Digest {
  interface Node {
    files: Map<string, InputFile>;
    dirs: Map<string, Node>;
  }
  const root: Node = { files: new Map(), dirs: new Map() };
  for (const [path, file] of Object.entries(inputs)) {
    const parts = path.split('/');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      let next = node.dirs.get(part);
      if (next === undefined) node.dirs.set(part, (next = { files: new Map(), dirs: new Map() }));
      node = next;
    }
    node.files.set(parts[parts.length - 1]!, file);
  }
  const byName = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const encode = (node: Node): Digest => {
    const dir: MessageInit<Directory> = {
      files: byName(node.files).map(([name, f]) => {
        const data = Buffer.from(f.data);
        files.push(data);
        return { name, digest: digestOf(data), isExecutable: f.executable ?? false };
      }),
      directories: byName(node.dirs).map(([name, child]) => ({ name, digest: encode(child) })),
    };
    const bytes = DirectoryCodec.encode(dir);
    directories.push(bytes);
    return digestOf(bytes);
  };
  return encode(root);
}

export interface DecodedOperation {
  readonly name: string;
  readonly done: boolean;
  readonly metadata: ExecuteOperationMetadata;
  /** Set when done. */
  readonly response: ExecuteResponse | undefined;
  /** Operation.error: must never be set (REAPI). */
  readonly error: unknown;
}

export function decodeOperation(op: Operation): DecodedOperation {
  if (op.metadata?.typeUrl !== 'type.googleapis.com/build.bazel.remote.execution.v2.ExecuteOperationMetadata') {
    throw new Error(`unexpected metadata type ${op.metadata?.typeUrl}`);
  }
  let response: ExecuteResponse | undefined;
  if (op.response) {
    if (op.response.typeUrl !== 'type.googleapis.com/build.bazel.remote.execution.v2.ExecuteResponse') {
      throw new Error(`unexpected response type ${op.response.typeUrl}`);
    }
    response = ExecuteResponseCodec.decode(op.response.value);
  }
  return { name: op.name, done: op.done, metadata: ExecuteOperationMetadataCodec.decode(op.metadata.value), response, error: op.error ?? undefined };
}

/** The stages of a stream of operations, by name: ["QUEUED", "EXECUTING", "COMPLETED"]. */
export function stagesOf(ops: readonly Operation[]): string[] {
  const names = ['UNKNOWN', 'CACHE_CHECK', 'QUEUED', 'EXECUTING', 'COMPLETED'];
  return ops.map((op) => names[decodeOperation(op).metadata.stage] ?? 'UNKNOWN');
}

/** The final operation's ExecuteResponse, checking what REAPI requires of it. */
export function finalResponse(ops: readonly Operation[]): { name: string; response: ExecuteResponse } {
  const last = ops[ops.length - 1];
  if (last === undefined) throw new Error('the stream carried no operation');
  const op = decodeOperation(last);
  if (!op.done || op.response === undefined) throw new Error(`the last operation is not done: ${JSON.stringify(op.metadata)}`);
  if (op.error !== undefined) throw new Error('Operation.error is set; REAPI puts errors in ExecuteResponse.status');
  if (op.response.result === null) throw new Error('a done operation without a result (Bazel: "no result")');
  return { name: op.name, response: op.response };
}

/** The first operation of a live Execute stream; the stream is then cancelled, as a client that goes away would. */
export async function firstOperation(stream: ClientReadableStream<Operation>): Promise<Operation> {
  try {
    return await new Promise<Operation>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
      stream.once('end', () => reject(new Error('the stream ended without an operation')));
    });
  } finally {
    stream.on('error', () => {}); // the CANCELLED status our cancel causes
    stream.cancel();
  }
}

/** The digests a status names in MISSING violations, read as Bazel reads them (only a PreconditionFailure detail counts). */
export function missingBlobsOf(status: Status): Digest[] {
  if (status.code !== grpcStatus.FAILED_PRECONDITION) return [];
  return status.details.flatMap((any) => {
    if (any.typeUrl !== 'type.googleapis.com/google.rpc.PreconditionFailure') return [];
    return PreconditionFailureCodec.decode(any.value).violations.flatMap((v) => {
      const m = /^blobs\/([0-9a-f]{64})\/([0-9]+)$/.exec(v.subject);
      return v.type === 'MISSING' && m ? [{ hash: m[1]!, sizeBytes: Number(m[2]) }] : [];
    });
  });
}
