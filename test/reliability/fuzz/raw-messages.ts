// Fuzz family 2: raw bytes as the request message of every RPC of every
// service the daemon serves, sent with identity serializers so nothing on the
// client side cleans them up. Three kinds of input: random bytes; messages
// shaped from the request type (right field numbers, random values, nested
// messages, sometimes the wrong wire type); and shaped messages with their
// bytes damaged (bits flipped, cut short, bytes inserted).
// The oracle: a clean status for every call, within a bound, and a daemon
// that still answers Health after each batch.
import { Client, Metadata, type ServiceError, credentials, status } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { SERVICE_NAMES, type ServiceKey, codecFor, protoRoot } from '../../../src/proto/reapi.js';
import { type ReapiClient, blobName, uploadName } from '../../helpers/grpc-client.js';
import { FUZZ_INSTANCE } from './fuzz-daemon.js';
import { Prng } from '../../helpers/prng.js';
import { answerWithin, isClean, outcomeName } from './grpc-outcome.js';
import { FuzzFailure, FuzzTally, caseIndices } from './tally.js';

export interface FuzzMethod {
  readonly path: string;
  readonly requestType: protobuf.Type;
  readonly responseType: protobuf.Type;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** Every method of every service ncache serves, from the loaded protos. */
export function allMethods(): FuzzMethod[] {
  const out: FuzzMethod[] = [];
  for (const key of Object.keys(SERVICE_NAMES) as ServiceKey[]) {
    const service = protoRoot().lookupService(SERVICE_NAMES[key]);
    for (const m of service.methodsArray) {
      m.resolve();
      out.push({
        path: `/${SERVICE_NAMES[key]}/${m.name}`,
        requestType: m.resolvedRequestType!,
        responseType: m.resolvedResponseType!,
        requestStream: m.requestStream === true,
        responseStream: m.responseStream === true,
      });
    }
  }
  return out;
}

/** Strings a field may get: what makes handlers go further than the first check, and what breaks naive ones. */
function fieldString(rng: Prng, hints: StringHints): string {
  switch (rng.int(8)) {
    case 0:
      return '';
    case 1:
      return hints.instance;
    case 2:
      return hints.hash;
    case 3:
      return rng.pick(hints.names);
    case 4:
      return 'x'.repeat(rng.between(1, 10_000));
    default:
      return String.fromCharCode(...Array.from({ length: rng.length(100) }, () => rng.int(0x10000)));
  }
}

export interface StringHints {
  readonly instance: string;
  /** The hash of a blob the daemon holds. */
  readonly hash: string;
  /** Resource names, service names and the like. */
  readonly names: readonly string[];
}

const VARINT_VALUES = [0, 1, -1, 2, 127, 128, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1)];

function writeScalar(w: protobuf.Writer, type: string, rng: Prng, hints: StringHints): void {
  const v = rng.chance(0.5) ? rng.pick(VARINT_VALUES) : rng.int(2 ** 31);
  switch (type) {
    case 'string':
      w.string(fieldString(rng, hints));
      return;
    case 'bytes':
      w.bytes(rng.bytes(rng.length(4096)));
      return;
    case 'double':
      w.double(rng.pick([0, -1, NaN, Infinity, 1e308, v]));
      return;
    case 'float':
      w.float(rng.pick([0, -1, NaN, Infinity, v]));
      return;
    case 'fixed64':
    case 'sfixed64':
      w.fixed64(v);
      return;
    case 'fixed32':
    case 'sfixed32':
      w.fixed32(v >>> 0);
      return;
    case 'sint32':
    case 'sint64':
      w.sint64(v);
      return;
    default:
      // int32, int64, uint32, uint64, bool, enums: all varints.
      w.int64(v);
  }
}

const WIRE: Record<string, number> = { double: 1, fixed64: 1, sfixed64: 1, float: 5, fixed32: 5, sfixed32: 5, string: 2, bytes: 2 };

function wireTypeOf(field: protobuf.Field): number {
  if (field.map || field.resolvedType instanceof protobuf.Type) return 2;
  return WIRE[field.type] ?? 0;
}

/** A message of `type` with random values in random fields (nested up to `depth`), as wire bytes. */
export function shapedMessage(type: protobuf.Type, rng: Prng, hints: StringHints, depth = 3): Buffer {
  const w = protobuf.Writer.create();
  const fields = type.fieldsArray;
  const count = fields.length === 0 ? 0 : rng.between(0, Math.min(8, fields.length * 2));
  for (let n = 0; n < count; n++) {
    const field = rng.pick(fields);
    field.resolve();
    // Now and then the wrong wire type for the field: decoders must not trust the schema.
    const wire = rng.chance(0.05) ? rng.pick([0, 1, 2, 5]) : wireTypeOf(field);
    w.uint32((field.id << 3) | wire);
    if (wire !== wireTypeOf(field)) {
      if (wire === 0) w.uint64(rng.uint32());
      else if (wire === 1) w.fixed64(rng.uint32());
      else if (wire === 5) w.fixed32(rng.uint32());
      else w.bytes(rng.bytes(rng.length(64)));
      continue;
    }
    if (field instanceof protobuf.MapField) {
      const entry = protobuf.Writer.create();
      entry.uint32((1 << 3) | (WIRE[field.keyType] ?? 0));
      writeScalar(entry, field.keyType, rng, hints);
      entry.uint32((2 << 3) | wireTypeOf(field));
      if (field.resolvedType instanceof protobuf.Type) entry.bytes(shapedMessage(field.resolvedType, rng, hints, depth - 1));
      else writeScalar(entry, field.type, rng, hints);
      w.bytes(entry.finish());
    } else if (field.resolvedType instanceof protobuf.Type) {
      w.bytes(depth > 0 ? shapedMessage(field.resolvedType, rng, hints, depth - 1) : Buffer.alloc(0));
    } else {
      writeScalar(w, field.type, rng, hints);
    }
  }
  return Buffer.from(w.finish());
}

/** Byte-level damage: a bit flipped, a byte replaced, cut short, bytes inserted, a slice repeated. */
export function damage(bytes: Buffer, rng: Prng): Buffer {
  const i = rng.int(bytes.length + 1);
  switch (rng.int(5)) {
    case 0:
      if (bytes.length === 0) return rng.bytes(1);
      return Buffer.from(bytes.map((b, j) => (j === Math.min(i, bytes.length - 1) ? b ^ (1 << rng.int(8)) : b)));
    case 1:
      return Buffer.concat([bytes.subarray(0, i), rng.bytes(1), bytes.subarray(i + 1)]);
    case 2:
      return bytes.subarray(0, i);
    case 3:
      return Buffer.concat([bytes.subarray(0, i), rng.bytes(rng.between(1, 16)), bytes.subarray(i)]);
    default:
      return Buffer.concat([bytes.subarray(0, i), bytes.subarray(rng.int(i + 1), i), bytes.subarray(i)]);
  }
}

export type InputKind = 'random' | 'shaped' | 'damaged';

export function messageBytes(kind: InputKind, type: protobuf.Type, rng: Prng, hints: StringHints): Buffer {
  if (kind === 'random') return rng.bytes(rng.length(2048));
  const shaped = shapedMessage(type, rng, hints);
  if (kind === 'shaped') return shaped;
  let out = shaped;
  for (let n = rng.between(1, 3); n > 0; n--) out = damage(out, rng);
  return out;
}

const identity = (b: Buffer) => b;

/** One call with raw request bytes; resolves with the raw response messages, rejects with the status. */
function rawCall(client: Client, m: FuzzMethod, requests: Buffer[], deadlineMs: number): Promise<Buffer[]> {
  const options = { deadline: Date.now() + deadlineMs };
  return new Promise((resolve, reject) => {
    const done = (err: ServiceError | null, value?: Buffer) => (err ? reject(err) : resolve(value === undefined ? [] : [value]));
    if (!m.requestStream && !m.responseStream) {
      client.makeUnaryRequest(m.path, identity, identity, requests[0] ?? Buffer.alloc(0), new Metadata(), options, done);
    } else if (m.requestStream) {
      const call = client.makeClientStreamRequest(m.path, identity, identity, new Metadata(), options, done);
      for (const r of requests) call.write(r);
      call.end();
    } else {
      const call = client.makeServerStreamRequest(m.path, identity, identity, requests[0] ?? Buffer.alloc(0), new Metadata(), options);
      const got: Buffer[] = [];
      call.on('data', (b: Buffer) => {
        got.push(b);
        // Health.Watch answers and then stays open by design: one answer is the whole reply.
        if (m.path.endsWith('/Watch')) {
          call.cancel();
          resolve(got);
        }
      });
      call.on('error', (err: ServiceError) => reject(err));
      call.on('end', () => resolve(got));
    }
  });
}

/** Per-item statuses inside batch responses: a clean call must not hide an INTERNAL in its parts. */
function innerStatuses(m: FuzzMethod, responses: Buffer[]): { code: number; message: string }[] {
  if (!m.path.endsWith('/BatchUpdateBlobs') && !m.path.endsWith('/BatchReadBlobs')) return [];
  const codec = codecFor<{ responses: { status: { code: number; message: string } | null }[] }>(m.responseType.fullName.slice(1));
  return responses.flatMap((b) => codec.decode(b).responses.flatMap((r) => (r.status ? [r.status] : [])));
}

export interface MessageFuzzOptions {
  readonly seed: number;
  readonly cases: number;
  readonly concurrency?: number;
  readonly callTimeoutMs?: number;
}

export async function fuzzRawMessages(
  address: string,
  health: ReapiClient,
  hints: StringHints,
  opts: MessageFuzzOptions,
): Promise<FuzzTally> {
  const tally = new FuzzTally('raw messages', opts.seed);
  const methods = allMethods();
  const timeoutMs = opts.callTimeoutMs ?? 15_000;
  const client = new Client(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  const runCase = async (index: number) => {
    const rng = Prng.forCase(opts.seed, index);
    const m = rng.pick(methods);
    const kind = rng.pick(['random', 'shaped', 'shaped', 'damaged', 'damaged'] as const);
    const requests = Array.from({ length: m.requestStream ? rng.between(1, 3) : 1 }, () => messageBytes(kind, m.requestType, rng, hints));
    const input = `${m.path} ${kind} ${requests.map((r) => r.toString('hex').slice(0, 400)).join(' | ')}`;
    const fail = (why: string) => new FuzzFailure(tally.family, opts.seed, index, input, why);
    let responses: Buffer[] = [];
    const err = await answerWithin(
      rawCall(client, m, requests, timeoutMs).then((r) => (responses = r)),
      timeoutMs + 5_000,
    );
    if (err === 'hang') throw fail(`no answer within ${timeoutMs + 5_000} ms`);
    const method = m.path.slice(m.path.lastIndexOf('.') + 1);
    tally.count(outcomeName(err), method);
    if (err !== undefined && !isClean(err)) throw fail(`unclean status ${outcomeName(err)}: ${err.details}`);
    for (const s of innerStatuses(m, responses)) {
      if (s.code === status.INTERNAL || s.code === status.UNKNOWN) throw fail(`a batch item answered ${status[s.code]}: ${s.message}`);
    }
  };
  try {
    const indices = caseIndices(opts.cases);
    const batch = opts.concurrency ?? 16;
    for (let i = 0; i < indices.length; i += batch) {
      await Promise.all(indices.slice(i, i + batch).map(runCase));
      // The daemon is still up and serving after each batch.
      await health.healthCheck('');
    }
  } finally {
    client.close();
  }
  return tally;
}

/** Strings that take handlers past their first check: the fuzz daemon's instance, a stored blob and names built on it. */
export async function messageHints(client: ReapiClient, seed: number): Promise<StringHints> {
  const stored = await client.uploadBlob(Buffer.from(`raw message fuzz ${seed}`), FUZZ_INSTANCE);
  return {
    instance: FUZZ_INSTANCE,
    hash: stored.hash,
    names: [
      blobName(FUZZ_INSTANCE, stored),
      uploadName(FUZZ_INSTANCE, stored, 'u1'),
      `${FUZZ_INSTANCE}/blobs/${stored.hash}/-1`,
      ...Object.values(SERVICE_NAMES),
    ],
  };
}
