// The REAPI messages and gRPC services, loaded once from the .proto files in
// this directory with protobufjs.
//
// Conventions, the same for every message and in both directions:
// - field names are camelCase (`size_bytes` -> `sizeBytes`);
// - int64 values are JS numbers (sizes and offsets stay far below 2^53);
// - bytes are Buffers (decoding slices the input: no copy);
// - enums are numbers (see the *_VALUE constants below);
// - decoding fills proto3 defaults: scalars are 0/""/false, repeated fields
//   are [], absent sub-messages are null;
// - encoding is canonical: fields in number order and default-valued
//   scalars left out, so digests of encoded Directory/Tree/Action messages
//   match what Bazel computes.
import type * as grpc from '@grpc/grpc-js';
import type { HandleClientStream, HandleServerStream, HandleUnary } from '../daemon/grpc-server/calls.js';
import { join, isAbsolute } from 'node:path';
import protobuf from 'protobufjs';
import type { Digest } from '../util/digest.js';
import { protoDir } from '../util/paths.js';

export type { Digest };

// ---------------------------------------------------------------------------
// Message shapes (decoded form)

export interface Timestamp {
  seconds: number;
  nanos: number;
}
export type Duration = Timestamp;

export interface Any {
  typeUrl: string;
  value: Buffer;
}

export interface Status {
  code: number;
  message: string;
  details: Any[];
}

export interface PreconditionFailure {
  violations: { type: string; subject: string; description: string }[];
}

export interface NodeProperty {
  name: string;
  value: string;
}

export interface NodeProperties {
  properties: NodeProperty[];
  mtime: Timestamp | null;
  unixMode: { value: number } | null;
}

export interface FileNode {
  name: string;
  digest: Digest | null;
  isExecutable: boolean;
  nodeProperties: NodeProperties | null;
}

export interface DirectoryNode {
  name: string;
  digest: Digest | null;
}

export interface SymlinkNode {
  name: string;
  target: string;
  nodeProperties: NodeProperties | null;
}

export interface Directory {
  files: FileNode[];
  directories: DirectoryNode[];
  symlinks: SymlinkNode[];
  nodeProperties: NodeProperties | null;
}

export interface Tree {
  root: Directory | null;
  children: Directory[];
}

export interface Platform {
  properties: { name: string; value: string }[];
}

export interface Action {
  commandDigest: Digest | null;
  inputRootDigest: Digest | null;
  timeout: Duration | null;
  doNotCache: boolean;
  salt: Buffer;
  platform: Platform | null;
}

export interface Command {
  arguments: string[];
  environmentVariables: { name: string; value: string }[];
  outputFiles: string[];
  outputDirectories: string[];
  outputPaths: string[];
  platform: Platform | null;
  workingDirectory: string;
  outputNodeProperties: string[];
  outputDirectoryFormat: number;
}

export interface OutputFile {
  path: string;
  digest: Digest | null;
  isExecutable: boolean;
  contents: Buffer;
  nodeProperties: NodeProperties | null;
}

export interface OutputSymlink {
  path: string;
  target: string;
  nodeProperties: NodeProperties | null;
}

export interface OutputDirectory {
  path: string;
  treeDigest: Digest | null;
  isTopologicallySorted: boolean;
  rootDirectoryDigest: Digest | null;
}

export interface ExecutedActionMetadata {
  worker: string;
  queuedTimestamp: Timestamp | null;
  workerStartTimestamp: Timestamp | null;
  workerCompletedTimestamp: Timestamp | null;
  inputFetchStartTimestamp: Timestamp | null;
  inputFetchCompletedTimestamp: Timestamp | null;
  executionStartTimestamp: Timestamp | null;
  executionCompletedTimestamp: Timestamp | null;
  virtualExecutionDuration: Duration | null;
  outputUploadStartTimestamp: Timestamp | null;
  outputUploadCompletedTimestamp: Timestamp | null;
  auxiliaryMetadata: Any[];
}

export interface ActionResult {
  outputFiles: OutputFile[];
  outputFileSymlinks: OutputSymlink[];
  outputSymlinks: OutputSymlink[];
  outputDirectories: OutputDirectory[];
  outputDirectorySymlinks: OutputSymlink[];
  exitCode: number;
  stdoutRaw: Buffer;
  stdoutDigest: Digest | null;
  stderrRaw: Buffer;
  stderrDigest: Digest | null;
  executionMetadata: ExecutedActionMetadata | null;
}

export interface FindMissingBlobsRequest {
  instanceName: string;
  blobDigests: Digest[];
  digestFunction: number;
}
export interface FindMissingBlobsResponse {
  missingBlobDigests: Digest[];
}

export interface BatchUpdateBlobsRequest {
  instanceName: string;
  requests: { digest: Digest | null; data: Buffer; compressor: number }[];
  digestFunction: number;
}
export interface BatchUpdateBlobsResponse {
  responses: { digest: Digest | null; status: Status | null }[];
}

export interface BatchReadBlobsRequest {
  instanceName: string;
  digests: Digest[];
  acceptableCompressors: number[];
  digestFunction: number;
}
export interface BatchReadBlobsResponse {
  responses: { digest: Digest | null; data: Buffer; compressor: number; status: Status | null }[];
}

export interface GetTreeRequest {
  instanceName: string;
  rootDigest: Digest | null;
  pageSize: number;
  pageToken: string;
  digestFunction: number;
}
export interface GetTreeResponse {
  directories: Directory[];
  nextPageToken: string;
}

export interface GetActionResultRequest {
  instanceName: string;
  actionDigest: Digest | null;
  inlineStdout: boolean;
  inlineStderr: boolean;
  inlineOutputFiles: string[];
  digestFunction: number;
}

export interface UpdateActionResultRequest {
  instanceName: string;
  actionDigest: Digest | null;
  actionResult: ActionResult | null;
  resultsCachePolicy: { priority: number } | null;
  digestFunction: number;
}

export interface GetCapabilitiesRequest {
  instanceName: string;
}

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: string;
}

export interface PriorityCapabilities {
  priorities: { minPriority: number; maxPriority: number }[];
}

export interface CacheCapabilities {
  digestFunctions: number[];
  actionCacheUpdateCapabilities: { updateEnabled: boolean } | null;
  cachePriorityCapabilities: PriorityCapabilities | null;
  maxBatchTotalSizeBytes: number;
  symlinkAbsolutePathStrategy: number;
  supportedCompressors: number[];
  supportedBatchUpdateCompressors: number[];
}

export interface ExecutionCapabilities {
  digestFunction: number;
  execEnabled: boolean;
  executionPriorityCapabilities: PriorityCapabilities | null;
  supportedNodeProperties: string[];
  digestFunctions: number[];
}

export interface ServerCapabilities {
  cacheCapabilities: CacheCapabilities | null;
  executionCapabilities: ExecutionCapabilities | null;
  deprecatedApiVersion: SemVer | null;
  lowApiVersion: SemVer | null;
  highApiVersion: SemVer | null;
}

export interface ExecuteRequest {
  instanceName: string;
  skipCacheLookup: boolean;
  actionDigest: Digest | null;
  executionPolicy: { priority: number } | null;
  resultsCachePolicy: { priority: number } | null;
  digestFunction: number;
  inlineStdout: boolean;
  inlineStderr: boolean;
  inlineOutputFiles: string[];
}

export interface ExecuteResponse {
  result: ActionResult | null;
  cachedResult: boolean;
  status: Status | null;
  serverLogs: Record<string, { digest: Digest | null; humanReadable: boolean }>;
  message: string;
}

export interface ExecuteOperationMetadata {
  stage: number;
  actionDigest: Digest | null;
  stdoutStreamName: string;
  stderrStreamName: string;
  partialExecutionMetadata: ExecutedActionMetadata | null;
  digestFunction: number;
}

export interface WaitExecutionRequest {
  name: string;
}

export interface Operation {
  name: string;
  metadata: Any | null;
  done: boolean;
  error?: Status | null;
  response?: Any | null;
}

export interface ReadRequest {
  resourceName: string;
  readOffset: number;
  readLimit: number;
}
export interface ReadResponse {
  data: Buffer;
}
export interface WriteRequest {
  resourceName: string;
  writeOffset: number;
  finishWrite: boolean;
  data: Buffer;
}
export interface WriteResponse {
  committedSize: number;
}
export interface QueryWriteStatusRequest {
  resourceName: string;
}
export interface QueryWriteStatusResponse {
  committedSize: number;
  complete: boolean;
}

export interface HealthCheckRequest {
  service: string;
}
export interface HealthCheckResponse {
  status: number;
}

/**
 * What encode() accepts: any subset of the fields (missing ones are the
 * defaults), Uint8Array wherever a Buffer is expected.
 */
export type MessageInit<T> = T extends Buffer
  ? Uint8Array
  : T extends (infer U)[]
    ? MessageInit<U>[]
    : T extends object
      ? { [K in keyof T]?: MessageInit<NonNullable<T[K]>> | null }
      : T;

// ---------------------------------------------------------------------------
// Enum values used by ncache (numbers, as on the wire)

export const DIGEST_FUNCTION_SHA256 = 1;
export const DIGEST_FUNCTION_UNKNOWN = 0;
export const COMPRESSOR_IDENTITY = 0;
export const COMPRESSOR_ZSTD = 1;
/** Compressor.Value names, for messages about a compressor field. */
export const COMPRESSOR_NAMES: Readonly<Record<number, string>> = { 0: 'IDENTITY', 1: 'ZSTD', 2: 'DEFLATE', 3: 'BROTLI' };
export const SYMLINK_ABSOLUTE_PATH_ALLOWED = 2;
export const HEALTH_SERVING = 1;
export const HEALTH_NOT_SERVING = 2;
export const HEALTH_SERVICE_UNKNOWN = 3;
/** ExecutionStage.Value */
export const STAGE_CACHE_CHECK = 1;
export const STAGE_QUEUED = 2;
export const STAGE_EXECUTING = 3;
export const STAGE_COMPLETED = 4;

// ---------------------------------------------------------------------------
// Loading

const PROTO_FILES = [
  'build/bazel/remote/execution/v2/remote_execution.proto',
  'google/bytestream/bytestream.proto',
  'google/longrunning/operations.proto',
  'google/rpc/code.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
  'grpc/health/v1/health.proto',
];

let root: protobuf.Root | undefined;

/** The protobufjs root with every ncache .proto loaded (once, synchronously). */
export function protoRoot(): protobuf.Root {
  if (root) return root;
  const dir = protoDir();
  const r = new protobuf.Root();
  // Imports are written relative to the proto directory, like protoc's -I.
  // google/protobuf/* imports are served by protobufjs's bundled copies.
  r.resolvePath = (_origin, target) => (isAbsolute(target) ? target : join(dir, target));
  r.loadSync(
    PROTO_FILES.map((f) => join(dir, f)),
    { keepCase: false },
  );
  camelCaseAny(r);
  r.resolveAll();
  root = r;
  return r;
}

/**
 * protobufjs serves google/protobuf/any.proto from its bundled JSON, whose
 * field names are not camelCased as our .proto files are: without this, an
 * Any's `typeUrl` (as the Any interface spells it) would be silently dropped.
 */
function camelCaseAny(r: protobuf.Root): void {
  const any = r.lookupType('google.protobuf.Any');
  const field = any.fields['type_url'];
  if (field === undefined) return;
  any.remove(field);
  any.add(new protobuf.Field('typeUrl', field.id, field.type));
}

// ---------------------------------------------------------------------------
// Canonical encoding


interface FieldPlan {
  readonly name: string;
  readonly id: number;
  readonly repeated: boolean;
  readonly packed: boolean;
  readonly inOneof: boolean;
  /** Writer method for scalars ("int64", "string", ...); undefined for messages. */
  readonly scalar: string | undefined;
  readonly wireType: number;
  readonly message: protobuf.Type | undefined;
  readonly enumType: protobuf.Enum | undefined;
  readonly mapKey: string | undefined;
}

const plans = new WeakMap<protobuf.Type, FieldPlan[]>();

function planOf(type: protobuf.Type): FieldPlan[] {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = type.fieldsArray
    .slice()
    .sort((a, b) => a.id - b.id)
    .map((field) => {
      field.resolve();
      const resolved = field.resolvedType;
      const enumType = resolved instanceof protobuf.Enum ? resolved : undefined;
      const message = resolved instanceof protobuf.Type ? resolved : undefined;
      const scalar = message ? undefined : enumType ? 'int32' : field.type;
      const wireType = scalar === undefined ? 2 : (protobuf.types.basic as Record<string, number>)[scalar]!;
      const packable = scalar !== undefined && (protobuf.types.packed as Record<string, number | undefined>)[scalar] !== undefined;
      const mapKey = field instanceof protobuf.MapField ? field.keyType : undefined;
      return {
        name: field.name,
        id: field.id,
        repeated: field.repeated,
        packed: field.repeated && packable && field.packed,
        inOneof: field.partOf !== null && field.partOf !== undefined,
        scalar,
        wireType,
        message,
        enumType,
        mapKey,
      };
    });
  plans.set(type, plan);
  return plan;
}

/**
 * Encoding runs in two passes over the message: one computes the size of
 * every nested message and string (pushed, in visiting order, onto `s`),
 * the other writes into a single buffer of exactly the right size, reading
 * those sizes back in the same order. No intermediate objects are created,
 * which keeps a 10,000-digest FindMissingBlobs response cheap.
 */
interface EncodeCtx {
  s: number[];
  i: number;
}
type SizeFn = (m: Record<string, unknown>, c: EncodeCtx) => number;
type WriteFn = (m: Record<string, unknown>, b: Buffer, p: number, c: EncodeCtx) => number;
interface Encoder {
  size: SizeFn;
  write: WriteFn;
}

const encoders = new WeakMap<protobuf.Type, Encoder>();

function varintLength(v: number): number {
  if (v < 0) return 10;
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Helpers the generated encoders call (passed in, not global). */
const W = {
  /** Bytes of a non-negative 32-bit varint. */
  len32: (v: number): number => (v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : v < 268435456 ? 4 : 5),
  /** Bytes of a varint holding a signed 64-bit number. */
  len64: (v: number): number => (v >= 0 && v < 128 ? 1 : varintLength(v)),
  /** Bytes of a signed 32-bit varint (negative values take 10). */
  lenI32: (v: number): number => (v < 0 ? 10 : W.len32(v)),
  v32: (b: Buffer, p: number, v: number): number => {
    while (v > 127) {
      b[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    b[p++] = v;
    return p;
  },
  v64: (b: Buffer, p: number, v: number): number => {
    if (v < 0) {
      // Two's complement over 64 bits, as protobuf writes negative int64/int32.
      let x = BigInt.asUintN(64, BigInt(Math.trunc(v)));
      for (let i = 0; i < 9; i++) {
        b[p++] = Number(x & 127n) | 128;
        x >>= 7n;
      }
      b[p++] = Number(x);
      return p;
    }
    while (v > 127) {
      b[p++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    b[p++] = v;
    return p;
  },
  zz32: (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0,
  zz64: (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1),
  strLen: (s: string): number => {
    if (s.length >= 16) return Buffer.byteLength(s, 'utf8');
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        // A surrogate pair; a lone surrogate is written as U+FFFD (3 bytes), like Buffer.write does.
        n += 4;
        i++;
      } else n += 3;
    }
    return n;
  },
  str: (b: Buffer, p: number, s: string, l: number): number => {
    if (l === s.length && l < 16) {
      for (let i = 0; i < l; i++) b[p + i] = s.charCodeAt(i);
      return p + l;
    }
    return p + b.write(s, p, l, l === s.length ? 'latin1' : 'utf8');
  },
  bytes: (b: Buffer, p: number, v: Uint8Array): number => {
    b.set(v, p);
    return p + v.length;
  },
  f32: (b: Buffer, p: number, v: number, kind: string): number => {
    if (kind === 'float') b.writeFloatLE(v, p);
    else if (kind === 'sfixed32') b.writeInt32LE(v, p);
    else b.writeUInt32LE(v >>> 0, p);
    return p + 4;
  },
  f64: (b: Buffer, p: number, v: number, kind: string): number => {
    if (kind === 'double') b.writeDoubleLE(v, p);
    else if (kind === 'sfixed64') b.writeBigInt64LE(BigInt(Math.trunc(v)), p);
    else b.writeBigUInt64LE(BigInt(Math.trunc(v)), p);
    return p + 8;
  },
};

/** JS expressions for one scalar kind: its size (given value `x`) and how to write it. */
function scalarCode(scalar: string): { size: (x: string) => string; write: (x: string) => string } {
  switch (scalar) {
    case 'int64':
    case 'uint64':
      return { size: (x) => `W.len64(${x})`, write: (x) => `p = W.v64(b, p, ${x});` };
    case 'sint64':
      return { size: (x) => `W.len64(W.zz64(${x}))`, write: (x) => `p = W.v64(b, p, W.zz64(${x}));` };
    case 'int32':
      return { size: (x) => `W.lenI32(${x})`, write: (x) => `p = ${x} < 0 ? W.v64(b, p, ${x}) : W.v32(b, p, ${x});` };
    case 'uint32':
      return { size: (x) => `W.len32(${x} >>> 0)`, write: (x) => `p = W.v32(b, p, ${x} >>> 0);` };
    case 'sint32':
      return { size: (x) => `W.len32(W.zz32(${x}))`, write: (x) => `p = W.v32(b, p, W.zz32(${x}));` };
    case 'bool':
      return { size: () => '1', write: (x) => `b[p++] = ${x} ? 1 : 0;` };
    case 'fixed32':
    case 'sfixed32':
    case 'float':
      return { size: () => '4', write: (x) => `p = W.f32(b, p, ${x}, "${scalar}");` };
    case 'fixed64':
    case 'sfixed64':
    case 'double':
      return { size: () => '8', write: (x) => `p = W.f64(b, p, ${x}, "${scalar}");` };
    default:
      throw new Error(`no encoder for scalar type ${scalar}`);
  }
}

function tagBytes(id: number, wireType: number): number[] {
  const out: number[] = [];
  let v = ((id << 3) | wireType) >>> 0;
  while (v > 127) {
    out.push((v & 127) | 128);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** Code writing a precomputed tag. */
function writeTag(bytes: number[]): string {
  return bytes.map((x) => `b[p++] = ${x};`).join(' ');
}

function encoderOf(type: protobuf.Type): Encoder {
  const cached = encoders.get(type);
  if (cached) return cached;
  // Registered before generating so recursive types (none in REAPI) terminate.
  const self: Encoder = { size: (m, c) => self.size(m, c), write: (m, b, p, c) => self.write(m, b, p, c) };
  encoders.set(type, self);
  const nested: Encoder[] = [];
  const enums: Record<string, number>[] = [];
  const sz: string[] = ['var n = 0, v, i, l, k, q, e, ks, x;'];
  const wr: string[] = ['var v, i, l, ks, x;'];

  const value = (f: FieldPlan, ref: string): string => {
    if (!f.enumType) return ref;
    enums.push(f.enumType.values);
    return `(typeof ${ref} === "string" ? E[${enums.length - 1}][${ref}] : ${ref})`;
  };
  const sub = (f: FieldPlan): number => {
    nested.push(encoderOf(f.message!));
    return nested.length - 1;
  };

  /** Size/write code for one value (not repeated bookkeeping) of field `f` held in `ref`, including its tag. */
  const one = (f: FieldPlan, ref: string, tag: number[]): { size: string; write: string } => {
    const T = tag.length;
    if (f.message) {
      const j = sub(f);
      return {
        size: `k = c.s.length; c.s.push(0); l = N[${j}].size(${ref}, c); c.s[k] = l; n += ${T} + W.len32(l) + l;`,
        write: `l = c.s[c.i++]; ${writeTag(tag)} p = W.v32(b, p, l); p = N[${j}].write(${ref}, b, p, c);`,
      };
    }
    if (f.scalar === 'string') {
      return {
        size: `l = W.strLen(${ref}); c.s.push(l); n += ${T} + W.len32(l) + l;`,
        write: `l = c.s[c.i++]; ${writeTag(tag)} p = W.v32(b, p, l); p = W.str(b, p, ${ref}, l);`,
      };
    }
    if (f.scalar === 'bytes') {
      return {
        size: `l = ${ref}.length; n += ${T} + W.len32(l) + l;`,
        write: `${writeTag(tag)} p = W.v32(b, p, ${ref}.length); p = W.bytes(b, p, ${ref});`,
      };
    }
    const code = scalarCode(f.scalar!);
    return {
      size: `x = ${value(f, ref)}; n += ${T} + ${code.size('x')};`,
      write: `x = ${value(f, ref)}; ${writeTag(tag)} ${code.write('x')}`,
    };
  };

  for (const f of planOf(type)) {
    const get = `v = m[${JSON.stringify(f.name)}];`;
    sz.push(get);
    wr.push(get);
    const lenTag = tagBytes(f.id, 2);
    if (f.mapKey !== undefined) {
      const keyPlan: FieldPlan = { ...f, scalar: f.mapKey, message: undefined, enumType: undefined, repeated: false, mapKey: undefined };
      const valuePlan: FieldPlan = { ...f, repeated: false, mapKey: undefined };
      const key = one(keyPlan, 'ks[i]', tagBytes(1, (protobuf.types.mapKey as Record<string, number>)[f.mapKey]!));
      const val = one(valuePlan, 'v[ks[i]]', tagBytes(2, f.message ? 2 : f.wireType));
      // The entry's own size goes first (slot e); key and value push theirs after it.
      sz.push(
        'if (v != null) { ks = Object.keys(v).sort(); for (i = 0; i < ks.length; ++i) {',
        'q = n; e = c.s.length; c.s.push(0); n = 0;',
        key.size,
        val.size,
        `c.s[e] = n; n = q + ${lenTag.length} + W.len32(n) + n; } }`,
      );
      wr.push(
        'if (v != null) { ks = Object.keys(v).sort(); for (i = 0; i < ks.length; ++i) {',
        `l = c.s[c.i++]; ${writeTag(lenTag)} p = W.v32(b, p, l);`,
        key.write,
        val.write,
        '} }',
      );
    } else if (f.repeated && f.packed) {
      const code = scalarCode(f.scalar!);
      sz.push(
        'if (v != null && v.length !== 0) {',
        `q = 0; for (i = 0; i < v.length; ++i) { x = ${value(f, 'v[i]')}; q += ${code.size('x')}; }`,
        `c.s.push(q); n += ${lenTag.length} + W.len32(q) + q; }`,
      );
      wr.push(
        'if (v != null && v.length !== 0) {',
        `l = c.s[c.i++]; ${writeTag(lenTag)} p = W.v32(b, p, l);`,
        `for (i = 0; i < v.length; ++i) { x = ${value(f, 'v[i]')}; ${code.write('x')} } }`,
      );
    } else if (f.repeated) {
      const item = one(f, f.message ? '(v[i] || {})' : 'v[i]', f.message ? lenTag : tagBytes(f.id, f.wireType));
      sz.push(`if (v != null) for (i = 0; i < v.length; ++i) { ${item.size} }`);
      wr.push(`if (v != null) for (i = 0; i < v.length; ++i) { ${item.write} }`);
    } else {
      const item = one(f, 'v', f.message ? lenTag : tagBytes(f.id, f.wireType));
      // proto3: a scalar equal to its default is not written, except as the
      // selected member of a oneof (there presence is the information).
      let present: string;
      if (f.message || f.inOneof) present = 'v != null';
      else if (f.scalar === 'string' || f.scalar === 'bytes') present = 'v != null && v.length !== 0';
      else if (f.scalar === 'bool') present = 'v === true';
      else present = 'v != null && v !== 0';
      sz.push(`if (${present}) { ${item.size} }`);
      wr.push(`if (${present}) { ${item.write} }`);
    }
  }
  sz.push('return n;');
  wr.push('return p;');
  const make = new Function(
    'N',
    'E',
    'W',
    `return { size: function size_${type.name}(m, c) {\n${sz.join('\n')}\n}, write: function write_${type.name}(m, b, p, c) {\n${wr.join('\n')}\n} };`,
  );
  const generated = make(nested, enums, W) as Encoder;
  self.size = generated.size;
  self.write = generated.write;
  encoders.set(type, generated);
  return generated;
}

// ---------------------------------------------------------------------------
// Decoding

type Reader = protobuf.Reader;
type DecodeFn = (r: Reader, end: number) => Record<string, unknown>;

const decoders = new WeakMap<protobuf.Type, DecodeFn>();
const EMPTY_BYTES = Buffer.alloc(0);

/**
 * Reads a varint as a JS number (int64 semantics: two's complement when
 * `signed`). Exact up to 2^53, which every size and offset we handle is.
 */
function readVarint64(r: Reader, signed: boolean): number {
  const buf = r.buf;
  let pos = r.pos;
  let lo = 0;
  let hi = 0;
  let b = 0;
  let i = 0;
  for (; i < 4; i++) {
    if (pos >= r.len) throw new RangeError('truncated varint');
    b = buf[pos++]!;
    lo = (lo | ((b & 127) << (i * 7))) >>> 0;
    if (b < 128) {
      r.pos = pos;
      return lo;
    }
  }
  if (pos >= r.len) throw new RangeError('truncated varint');
  b = buf[pos++]!;
  lo = (lo | ((b & 127) << 28)) >>> 0;
  hi = (b & 127) >> 4;
  if (b >= 128) {
    for (i = 0; i < 5; i++) {
      if (pos >= r.len) throw new RangeError('truncated varint');
      b = buf[pos++]!;
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0;
      if (b < 128) break;
    }
    if (b >= 128) throw new RangeError('varint longer than 10 bytes');
  }
  r.pos = pos;
  if (signed && hi >>> 31) {
    lo = (~lo + 1) >>> 0;
    hi = ~hi >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    return -(lo + hi * 4294967296);
  }
  return hi * 4294967296 + lo;
}

function readFixed64(r: Reader, signed: boolean): number {
  if (r.pos + 8 > r.len) throw new RangeError('truncated fixed64');
  const view = Buffer.from(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength);
  const v = signed ? view.readBigInt64LE(r.pos) : view.readBigUInt64LE(r.pos);
  r.pos += 8;
  return Number(v);
}

/** Helpers the generated decoders call (passed in, not global). */
const READ = {
  int64: (r: Reader) => readVarint64(r, true),
  uint64: (r: Reader) => readVarint64(r, false),
  sint64: (r: Reader) => {
    const n = readVarint64(r, false);
    // zigzag: even -> n/2, odd -> -(n+1)/2
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  },
  fixed64: (r: Reader) => readFixed64(r, false),
  sfixed64: (r: Reader) => readFixed64(r, true),
  end: (r: Reader) => {
    const end = r.uint32() + r.pos;
    if (end > r.len) throw new RangeError('length-delimited field runs past the end of the message');
    return end;
  },
};
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function readExpr(scalar: string): string {
  return LONG_TYPES.has(scalar) ? `R.${scalar}(r)` : `r.${scalar}()`;
}

function defaultExpr(f: FieldPlan): string {
  if (f.message) return 'null';
  switch (f.scalar) {
    case 'string':
      return '""';
    case 'bytes':
      return 'EMPTY';
    case 'bool':
      return 'false';
    default:
      return '0';
  }
}

/**
 * A decoder for one message type, generated once: it builds a plain object
 * with every field present (defaults filled) in one pass, reading int64 as
 * numbers and bytes as views of the input.
 */
function decoderOf(type: protobuf.Type): DecodeFn {
  const cached = decoders.get(type);
  if (cached) return cached;
  const nested: DecodeFn[] = [];
  let fn: DecodeFn = (r, end) => fn(r, end);
  decoders.set(type, (r, end) => fn(r, end));
  const plan = planOf(type);
  const init = plan
    .map((f) => {
      const value = f.mapKey !== undefined ? '{}' : f.repeated ? '[]' : f.inOneof ? 'undefined' : defaultExpr(f);
      return `${JSON.stringify(f.name)}: ${value}`;
    })
    .join(', ');
  const sub = (f: FieldPlan): string => {
    nested.push(decoderOf(f.message!));
    return `N[${nested.length - 1}](r, R.end(r))`;
  };
  const lines: string[] = [`var m = { ${init} }, t, e, k, v, t2;`, 'while (r.pos < end) {', 't = r.uint32();', 'switch (t >>> 3) {'];
  for (const f of plan) {
    const prop = `m[${JSON.stringify(f.name)}]`;
    lines.push(`case ${f.id}:`);
    if (f.mapKey !== undefined) {
      const valueDefault = f.message ? 'null' : defaultExpr(f);
      const valueRead = f.message ? sub(f) : readExpr(f.scalar!);
      lines.push(
        `e = R.end(r); k = ${f.mapKey === 'string' ? '""' : '0'}; v = ${valueDefault};`,
        'while (r.pos < e) { t2 = r.uint32(); switch (t2 >>> 3) {',
        `case 1: k = ${readExpr(f.mapKey)}; break;`,
        `case 2: v = ${valueRead}; break;`,
        'default: r.skipType(t2 & 7); } }',
        `${prop}[k] = v; break;`,
      );
    } else if (f.repeated && f.message) {
      lines.push(`${prop}.push(${sub(f)}); break;`);
    } else if (f.repeated) {
      // Accept both packed and unpacked encodings, as protobuf parsers must.
      const read = readExpr(f.scalar!);
      if (f.wireType !== 2) {
        lines.push(`if ((t & 7) === 2) { e = R.end(r); while (r.pos < e) ${prop}.push(${read}); } else ${prop}.push(${read}); break;`);
      } else {
        lines.push(`${prop}.push(${read}); break;`);
      }
    } else if (f.message) {
      lines.push(`${prop} = ${sub(f)}; break;`);
    } else {
      lines.push(`${prop} = ${readExpr(f.scalar!)}; break;`);
    }
  }
  lines.push('default: r.skipType(t & 7);', '}', '}', 'if (r.pos !== end) throw new RangeError("message runs past its length");', 'return m;');
  const make = new Function('N', 'R', 'EMPTY', `return function decode_${type.name}(r, end) {\n${lines.join('\n')}\n};`);
  fn = make(nested, READ, EMPTY_BYTES) as DecodeFn;
  decoders.set(type, fn);
  return fn;
}

// ---------------------------------------------------------------------------
// Codecs

export interface MessageCodec<T> {
  /** Fully qualified name, e.g. "build.bazel.remote.execution.v2.Digest". */
  readonly name: string;
  readonly type: protobuf.Type;
  encode(value: MessageInit<T>): Buffer;
  decode(bytes: Uint8Array): T;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

class LazyCodec<T> implements MessageCodec<T> {
  private resolved: protobuf.Type | undefined;
  constructor(readonly name: string) {}

  get type(): protobuf.Type {
    return (this.resolved ??= protoRoot().lookupType(this.name));
  }

  encode(value: MessageInit<T>): Buffer {
    const enc = encoderOf(this.type);
    const c: EncodeCtx = { s: [], i: 0 };
    const m = value as Record<string, unknown>;
    const size = enc.size(m, c);
    const out = Buffer.allocUnsafe(size);
    const end = enc.write(m, out, 0, c);
    if (end !== size) throw new Error(`${this.name}: encoded ${end} bytes, expected ${size} (was the message changed while encoding?)`);
    return out;
  }

  decode(bytes: Uint8Array): T {
    const r = protobuf.Reader.create(toBuffer(bytes));
    return decoderOf(this.type)(r, r.len) as T;
  }
}

/** A codec for any message type by its full name (for types not listed below). */
export function codecFor<T = Record<string, unknown>>(fullName: string): MessageCodec<T> {
  return new LazyCodec<T>(fullName);
}

const REV2 = 'build.bazel.remote.execution.v2.';

export const DigestCodec = codecFor<Digest>(REV2 + 'Digest');
export const DirectoryCodec = codecFor<Directory>(REV2 + 'Directory');
export const TreeCodec = codecFor<Tree>(REV2 + 'Tree');
export const ActionCodec = codecFor<Action>(REV2 + 'Action');
export const CommandCodec = codecFor<Command>(REV2 + 'Command');
export const ActionResultCodec = codecFor<ActionResult>(REV2 + 'ActionResult');
export const OutputFileCodec = codecFor<OutputFile>(REV2 + 'OutputFile');
export const FindMissingBlobsRequestCodec = codecFor<FindMissingBlobsRequest>(REV2 + 'FindMissingBlobsRequest');
export const FindMissingBlobsResponseCodec = codecFor<FindMissingBlobsResponse>(REV2 + 'FindMissingBlobsResponse');
export const ServerCapabilitiesCodec = codecFor<ServerCapabilities>(REV2 + 'ServerCapabilities');
export const ExecuteOperationMetadataCodec = codecFor<ExecuteOperationMetadata>(REV2 + 'ExecuteOperationMetadata');
export const ExecuteResponseCodec = codecFor<ExecuteResponse>(REV2 + 'ExecuteResponse');
export const RequestMetadataCodec = codecFor<Record<string, unknown>>(REV2 + 'RequestMetadata');
export const StatusCodec = codecFor<Status>('google.rpc.Status');
export const PreconditionFailureCodec = codecFor<PreconditionFailure>('google.rpc.PreconditionFailure');
/** The Any type URL of a PreconditionFailure in Status.details. */
export const PRECONDITION_FAILURE_TYPE_URL = 'type.googleapis.com/google.rpc.PreconditionFailure';
export const OperationCodec = codecFor<Operation>('google.longrunning.Operation');
export const ReadResponseCodec = codecFor<ReadResponse>('google.bytestream.ReadResponse');
export const WriteRequestCodec = codecFor<WriteRequest>('google.bytestream.WriteRequest');

// ---------------------------------------------------------------------------
// gRPC service definitions

type Res<T> = MessageInit<T>;

export interface ContentAddressableStorageHandlers {
  findMissingBlobs: HandleUnary<FindMissingBlobsRequest, Res<FindMissingBlobsResponse>>;
  batchUpdateBlobs: HandleUnary<BatchUpdateBlobsRequest, Res<BatchUpdateBlobsResponse>>;
  batchReadBlobs: HandleUnary<BatchReadBlobsRequest, Res<BatchReadBlobsResponse>>;
  getTree: HandleServerStream<GetTreeRequest, Res<GetTreeResponse>>;
}

export interface ActionCacheHandlers {
  getActionResult: HandleUnary<GetActionResultRequest, Res<ActionResult>>;
  updateActionResult: HandleUnary<UpdateActionResultRequest, Res<ActionResult>>;
}

export interface CapabilitiesHandlers {
  getCapabilities: HandleUnary<GetCapabilitiesRequest, Res<ServerCapabilities>>;
}

export interface ExecutionHandlers {
  execute: HandleServerStream<ExecuteRequest, Res<Operation>>;
  waitExecution: HandleServerStream<WaitExecutionRequest, Res<Operation>>;
}

export interface ByteStreamHandlers {
  read: HandleServerStream<ReadRequest, Res<ReadResponse>>;
  write: HandleClientStream<WriteRequest, Res<WriteResponse>>;
  queryWriteStatus: HandleUnary<QueryWriteStatusRequest, Res<QueryWriteStatusResponse>>;
}

export interface HealthHandlers {
  check: HandleUnary<HealthCheckRequest, Res<HealthCheckResponse>>;
  watch: HandleServerStream<HealthCheckRequest, Res<HealthCheckResponse>>;
}

/** The services ncache serves, by the short name used in code. */
export const SERVICE_NAMES = {
  cas: REV2 + 'ContentAddressableStorage',
  ac: REV2 + 'ActionCache',
  capabilities: REV2 + 'Capabilities',
  execution: REV2 + 'Execution',
  bytestream: 'google.bytestream.ByteStream',
  health: 'grpc.health.v1.Health',
} as const;

export type ServiceKey = keyof typeof SERVICE_NAMES;

export interface ServiceHandlers {
  cas: ContentAddressableStorageHandlers;
  ac: ActionCacheHandlers;
  capabilities: CapabilitiesHandlers;
  execution: ExecutionHandlers;
  bytestream: ByteStreamHandlers;
  health: HealthHandlers;
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

const definitions = new Map<ServiceKey, grpc.ServiceDefinition>();

/**
 * The definition of one service (grpc-js's shape: clients use it as is, the
 * daemon's listener registers it): keys are camelCase method names
 * (matching the handler interfaces above), `originalName` the proto name.
 */
export function serviceDefinition<K extends ServiceKey>(key: K): grpc.ServiceDefinition<ServiceHandlers[K]> {
  const cached = definitions.get(key);
  if (cached) return cached as grpc.ServiceDefinition<ServiceHandlers[K]>;
  const service = protoRoot().lookupService(SERVICE_NAMES[key]);
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const req = codecFor<unknown>(method.resolvedRequestType!.fullName.slice(1));
    const res = codecFor<unknown>(method.resolvedResponseType!.fullName.slice(1));
    // Generate the codecs now rather than on the first call.
    for (const t of [method.resolvedRequestType!, method.resolvedResponseType!]) {
      encoderOf(t);
      decoderOf(t);
    }
    def[lowerFirst(method.name)] = {
      path: `/${SERVICE_NAMES[key]}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: (value: unknown) => req.encode(value as MessageInit<unknown>),
      requestDeserialize: (bytes: Buffer) => req.decode(bytes),
      responseSerialize: (value: unknown) => res.encode(value as MessageInit<unknown>),
      responseDeserialize: (bytes: Buffer) => res.decode(bytes),
      originalName: method.name,
    };
  }
  const typed = def as unknown as grpc.ServiceDefinition;
  definitions.set(key, typed);
  return typed as grpc.ServiceDefinition<ServiceHandlers[K]>;
}

/** The full type URL REAPI uses in google.protobuf.Any for a message. */
export function typeUrl(fullName: string): string {
  return `type.googleapis.com/${fullName}`;
}
