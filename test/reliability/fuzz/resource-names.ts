// Fuzz family 1: ByteStream Read, Write and QueryWriteStatus with mutated
// resource names, against a real daemon over loopback gRPC. Each case starts
// from a valid name (of a stored blob, an absent one, or the empty blob) and
// applies a few mutations: odd instance names, "..", empty segments, huge,
// negative or non-numeric sizes, bad hashes, unknown compressors,
// uploads/blobs confusion, very long names, unicode, NUL bytes.
// The oracle: every call ends with a clean status that names the problem, in
// bounded time; Write never stores anything (its data never matches a name).
import { type ReapiClient, blobName, uploadName } from '../../helpers/grpc-client.js';
import { Prng } from '../../helpers/prng.js';
import { type Digest, EMPTY_DIGEST, MAX_BLOB_SIZE, digestOf } from '../../../src/util/digest.js';
import { FuzzFailure, FuzzTally, caseIndices, runPool } from './tally.js';
import { answerWithin, isClean, outcomeName } from './grpc-outcome.js';

export interface NameFuzzTargets {
  readonly instance: string;
  /** A blob the daemon holds. */
  readonly stored: Digest;
  /** A digest whose bytes are never uploaded. */
  readonly absent: Digest;
}

export type NameRpc = 'read' | 'write' | 'queryWriteStatus';

export interface NameCase {
  readonly rpc: NameRpc;
  readonly name: string;
  readonly readOffset: number;
  readonly readLimit: number;
  /** Write's data: random bytes, so no mutated name can make it a valid upload of a new blob. */
  readonly data: Buffer;
  readonly finishWrite: boolean;
}

const ODD_INSTANCES = [
  '', 'Main', 'main/', '/main', 'main//x', '..', '.', 'main/..', '../main', 'blobs', 'uploads', 'a b', '%2e%2e',
  'mäin', '实例', '\u0000', 'main\u0000', 'main\nx', '\\main', '🚀', '\ud800', 'main/compressed-blobs', 'x'.repeat(5000),
];
const ODD_SIZES = [
  '-1', '-0', '1e3', '0x10', '', ' 5', '5 ', '+5', '5.0', '99999999999999999999', String(MAX_BLOB_SIZE + 1), '9007199254740993',
  '٣', '00000000000000005', 'NaN', 'Infinity', '18446744073709551615', '0',
];
const KEYWORDS = ['blobs', 'uploads', 'compressed-blobs', 'actions', 'actionResults', 'operations', 'capabilities'];
const COMPRESSORS = ['identity', 'zstd', 'deflate', 'brotli', 'IDENTITY', '', 'lz4', '..', 'identity\u0000'];
const ODD_CHARS = ['\u0000', '/', '//', '.', '..', '%', '\\', ' ', '\n', 'é', '\u202e', '\ud83d', '\uffff', '*', '?', '#'];

type Mutation = (segs: string[], rng: Prng) => string[];

const at = (segs: string[], rng: Prng) => rng.int(Math.max(1, segs.length));
const hashIndex = (segs: string[]) => segs.findIndex((s) => /^[0-9a-f]{64}$/.test(s));

const MUTATIONS: Mutation[] = [
  // The instance part replaced by an odd one (or dropped).
  (segs, rng) => {
    const i = segs.findIndex((s) => s === 'blobs' || s === 'uploads' || s === 'compressed-blobs');
    const rest = i < 0 ? segs : segs.slice(i);
    const inst = rng.pick(ODD_INSTANCES);
    return inst === '' ? rest : [...inst.split('/'), ...rest];
  },
  (segs, rng) => segs.filter((_, i) => i !== at(segs, rng)), // a segment deleted
  (segs, rng) => {
    const i = at(segs, rng);
    return [...segs.slice(0, i), segs[i] ?? '', ...segs.slice(i)]; // a segment duplicated
  },
  (segs, rng) => {
    const i = at(segs, rng);
    return [...segs.slice(0, i), rng.pick(['', '..', '.', ...KEYWORDS]), ...segs.slice(i)]; // an empty, dot or keyword segment
  },
  (segs, rng) => {
    const out = [...segs];
    const i = at(out, rng);
    const j = at(out, rng);
    [out[i], out[j]] = [out[j] ?? '', out[i] ?? '']; // two segments swapped
    return out;
  },
  // The hash: uppercase, short, long, not hex, or with a digest-function segment.
  (segs, rng) => {
    const i = hashIndex(segs);
    if (i < 0) return segs;
    const h = segs[i]!;
    const forms = [h.toUpperCase(), h.slice(0, rng.int(64)), h + 'a', `${h.slice(0, 63)}g`, `sha256/${h}`, `md5/${h}`, `blake3/${h}`, ''];
    return [...segs.slice(0, i), ...rng.pick(forms).split('/'), ...segs.slice(i + 1)];
  },
  // The size: negative, non-numeric, huge.
  (segs, rng) => {
    const i = hashIndex(segs);
    if (i < 0 || i + 1 >= segs.length) return segs;
    const out = [...segs];
    out[i + 1] = rng.pick(ODD_SIZES);
    return out;
  },
  // "blobs" made "compressed-blobs/{compressor}" (or the other way round).
  (segs, rng) => {
    const i = segs.findIndex((s) => s === 'blobs' || s === 'compressed-blobs');
    if (i < 0) return segs;
    if (segs[i] === 'compressed-blobs') return [...segs.slice(0, i), 'blobs', ...segs.slice(i + 2)];
    return [...segs.slice(0, i), 'compressed-blobs', rng.pick(COMPRESSORS), ...segs.slice(i + 1)];
  },
  // Uploads/blobs confusion: a read name gains "uploads/{uuid}", an upload name loses it.
  (segs, rng) => {
    const i = segs.indexOf('uploads');
    if (i >= 0) return [...segs.slice(0, i), ...segs.slice(i + 2)];
    const j = segs.findIndex((s) => s === 'blobs' || s === 'compressed-blobs');
    return j < 0 ? segs : [...segs.slice(0, j), 'uploads', rng.pick(['u1', '', 'blobs', '..']), ...segs.slice(j)];
  },
  // Very long: many metadata segments, or one huge segment.
  (segs, rng) => (rng.chance(0.5) ? [...segs, ...Array.from({ length: rng.between(1, 3000) }, () => 'm')] : [...segs, 'x'.repeat(rng.between(100, 20_000))]),
];

/** Character-level damage to the joined name: insert, delete, replace or truncate. */
function damageChars(name: string, rng: Prng): string {
  const i = rng.int(name.length + 1);
  switch (rng.int(4)) {
    case 0:
      return name.slice(0, i) + rng.pick(ODD_CHARS) + name.slice(i);
    case 1:
      return name.slice(0, i) + name.slice(i + 1);
    case 2:
      return name.slice(0, i) + String.fromCharCode(rng.int(0x10000)) + name.slice(i + 1);
    default:
      return name.slice(0, i);
  }
}

export function nameCase(rng: Prng, t: NameFuzzTargets): NameCase {
  const digest = rng.pick([t.stored, t.absent, t.absent, EMPTY_DIGEST]);
  const uuid = `fuzz-${rng.uint32().toString(16)}`;
  const base = rng.chance(0.5) ? blobName(t.instance, digest) : uploadName(t.instance, digest, uuid);
  let segs = rng.chance(0.2) ? base.replace('/blobs/', '/compressed-blobs/identity/').split('/') : base.split('/');
  for (let n = rng.chance(0.6) ? 1 : rng.between(2, 3); n > 0; n--) segs = rng.pick(MUTATIONS)(segs, rng);
  let name = segs.join('/');
  if (rng.chance(0.2)) name = damageChars(name, rng);
  if (rng.chance(0.03)) name = String.fromCharCode(...Array.from({ length: rng.length(300) }, () => rng.int(0x10000)));
  const offsets = [0, 0, 0, 1, -1, digest.sizeBytes, digest.sizeBytes + 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];
  return {
    rpc: rng.pick(['read', 'write', 'queryWriteStatus'] as const),
    name,
    readOffset: rng.pick(offsets),
    readLimit: rng.pick(offsets),
    data: rng.bytes(rng.length(200)),
    finishWrite: rng.chance(0.8),
  };
}

async function callOnce(client: ReapiClient, c: NameCase): Promise<void> {
  switch (c.rpc) {
    case 'read':
      await client.read(c.name, { offset: c.readOffset, limit: c.readLimit });
      return;
    case 'queryWriteStatus':
      await client.queryWriteStatus(c.name);
      return;
    case 'write': {
      const h = client.openWrite();
      await h.send({ resourceName: c.name, writeOffset: 0, data: c.data, finishWrite: c.finishWrite });
      h.end();
      await h.response;
      return;
    }
  }
}

/** Every ncache answer carries the handler it came from, then what was wrong ("bad read resource name ...: size ... is not ..."). */
const NCACHE_ANSWER = /^In ByteStreamServer\.(read|write|queryWriteStatus): \S/;

export interface NameFuzzOptions {
  readonly seed: number;
  readonly cases: number;
  readonly concurrency?: number;
  /** Bound on one call; a call still unanswered then is a hang. */
  readonly callTimeoutMs?: number;
}

export async function fuzzResourceNames(client: ReapiClient, t: NameFuzzTargets, opts: NameFuzzOptions): Promise<FuzzTally> {
  const tally = new FuzzTally('resource names', opts.seed);
  const runCase = async (index: number) => {
    const c = nameCase(Prng.forCase(opts.seed, index), t);
    const input = `${c.rpc} ${JSON.stringify(c.name)} offset ${c.readOffset} limit ${c.readLimit} data ${c.data.length} B finish ${c.finishWrite}`;
    const fail = (why: string) => new FuzzFailure(tally.family, opts.seed, index, input, why);
    const err = await answerWithin(callOnce(client, c), opts.callTimeoutMs ?? 15_000);
    if (err === 'hang') throw fail(`no answer within ${opts.callTimeoutMs ?? 15_000} ms`);
    const outcome = outcomeName(err);
    tally.count(outcome, c.rpc);
    if (err === undefined) return;
    if (!isClean(err)) throw fail(`unclean status ${outcome}: ${err.details}`);
    if (!NCACHE_ANSWER.test(err.details)) throw fail(`${outcome} that is not ncache's answer naming the problem: ${err.details}`);
  };
  await runPool(caseIndices(opts.cases), opts.concurrency ?? 16, runCase);
  return tally;
}

/** The digests the name fuzzer aims at: one it uploads first, one never uploaded. */
export async function storeNameTargets(client: ReapiClient, instance: string, seed: number): Promise<NameFuzzTargets> {
  const stored = await client.uploadBlob(Buffer.from(`fuzz target ${seed}`), instance);
  return { instance, stored, absent: digestOf(Buffer.from(`never uploaded ${seed}`)) };
}
