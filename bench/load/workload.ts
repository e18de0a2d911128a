// The load test's data and choices, all derived from seeds so two runs send
// the same bytes: a fixed universe of blobs (mostly 1-64 KiB, some 1 MiB),
// action results that point at them, and a weighted mix of RPC kinds.
import { blobBytes, digestOfBuffer } from '../blob-data.js';
import type { Digest } from '../../src/proto/reapi.js';

export const RPC_KINDS = [
  'FindMissingBlobs',
  'ByteStream.Write',
  'ByteStream.Read',
  'BatchUpdateBlobs',
  'BatchReadBlobs',
  'GetActionResult',
  'UpdateActionResult',
] as const;
export type RpcKind = (typeof RPC_KINDS)[number];

/** A value for every kind; the literal makes the compiler check that none is missing. */
export function byKind<T>(value: (kind: RpcKind) => T): Record<RpcKind, T> {
  return {
    FindMissingBlobs: value('FindMissingBlobs'),
    'ByteStream.Write': value('ByteStream.Write'),
    'ByteStream.Read': value('ByteStream.Read'),
    BatchUpdateBlobs: value('BatchUpdateBlobs'),
    BatchReadBlobs: value('BatchReadBlobs'),
    GetActionResult: value('GetActionResult'),
    UpdateActionResult: value('UpdateActionResult'),
  };
}

/** How often each kind is picked (out of the sum). */
const WEIGHTS: Record<RpcKind, number> = {
  FindMissingBlobs: 20,
  'ByteStream.Write': 20,
  'ByteStream.Read': 20,
  BatchUpdateBlobs: 10,
  BatchReadBlobs: 10,
  GetActionResult: 10,
  UpdateActionResult: 10,
};
const WEIGHT_TOTAL = RPC_KINDS.reduce((sum, kind) => sum + WEIGHTS[kind], 0);

/** Blobs in the universe; with the size mix below about 200 MB in all, far under the default 10 GB CAS. */
export const BLOB_COUNT = 2000;
/** Actions whose results the clients write and read back. */
export const ACTION_COUNT = 500;
const SMALL_MAX = 64 * 1024;
const LARGE = 1024 * 1024;

/** mulberry32: a small seeded PRNG, the same sequence for the same seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every 20th blob is 1 MiB; the rest are 1 byte to 64 KiB. */
export function blobSize(id: number): number {
  if (id % 20 === 19) return LARGE;
  return 1 + Math.floor(prng(id * 7919 + 1)() * SMALL_MAX);
}

export const isSmall = (id: number) => blobSize(id) <= SMALL_MAX;

export function blobData(id: number): Buffer {
  return blobBytes(`load-blob-${id}`, blobSize(id));
}

const digests = new Map<number, Digest>();

/** The blob's digest (computed once per process). */
export function blobDigest(id: number): Digest {
  let d = digests.get(id);
  if (d === undefined) {
    d = digestOfBuffer(blobData(id));
    digests.set(id, d);
  }
  return d;
}

export function actionDigest(action: number): Digest {
  return digestOfBuffer(Buffer.from(`load-action-${action}`));
}

/** The one output blob of an action's result, the same for every client that writes it. */
export function actionOutput(action: number): number {
  return (action * 4 + 1) % BLOB_COUNT;
}

/** The next kind for a client, from its own PRNG. */
export function pickKind(random: () => number): RpcKind {
  let r = random() * WEIGHT_TOTAL;
  for (const kind of RPC_KINDS) {
    r -= WEIGHTS[kind];
    if (r < 0) return kind;
  }
  return RPC_KINDS[RPC_KINDS.length - 1]!;
}
