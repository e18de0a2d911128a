// The writers of the crash suite: concurrent gRPC clients uploading through
// ByteStream and BatchUpdateBlobs and recording action results, until the
// daemon under them dies. Every call's outcome goes into a Ledger: what was
// attempted, and what the daemon acknowledged (the call returned OK), which
// is what must survive the kill.
import type { Prng } from '../../bench/corpus.js';
import type { ActionResult, MessageInit } from '../../src/proto/reapi.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { mixedBytes } from '../helpers/data.js';
import { createReapiClient, type ReapiClient, type ServiceError } from '../helpers/grpc-client.js';

export interface AcEntry {
  readonly action: Digest;
  readonly outputs: readonly Digest[];
}

/** What one round (the load between two kills) wrote, and everything acknowledged so far. */
export class Ledger {
  /** Every CAS blob acknowledged in any round, by key. */
  readonly blobs = new Map<string, Digest>();
  readonly actions = new Map<string, AcEntry>();
  /** This round's: acknowledged, and attempted without an answer (in flight at the kill, or failed by it). */
  roundBlobs: Digest[] = [];
  roundActions: AcEntry[] = [];
  unanswered = new Map<string, Digest>();
  unansweredActions = new Map<string, AcEntry>();

  newRound(): void {
    this.roundBlobs = [];
    this.roundActions = [];
    this.unanswered = new Map();
    this.unansweredActions = new Map();
  }

  attempt(d: Digest): void {
    if (!this.blobs.has(digestKey(d))) this.unanswered.set(digestKey(d), d);
  }

  ack(d: Digest): void {
    this.unanswered.delete(digestKey(d));
    if (this.blobs.has(digestKey(d))) return;
    this.blobs.set(digestKey(d), d);
    this.roundBlobs.push(d);
  }

  attemptAction(e: AcEntry): void {
    this.unansweredActions.set(digestKey(e.action), e);
  }

  ackAction(e: AcEntry): void {
    this.unansweredActions.delete(digestKey(e.action));
    this.actions.set(digestKey(e.action), e);
    this.roundActions.push(e);
  }
}

export const actionResultOf = (outputs: readonly Digest[]): MessageInit<ActionResult> => ({
  outputFiles: outputs.map((digest, i) => ({ path: `bazel-out/k8-fastbuild/bin/out_${i}`, digest, isExecutable: false })),
  exitCode: 0,
});

const KIB = 1024;

/**
 * Blob contents: a shared 256 KiB stretch from a small pool followed by a
 * unique tail, so dedup finds chunks several blobs reference (and the kill
 * can land while a shared chunk's reference count changes).
 */
class Contents {
  private readonly shared = [0, 1, 2, 3].map((i) => mixedBytes(256 * KIB, 0x5a5a + i));
  private serial = 0;

  constructor(private readonly seed: number) {}

  large(rng: Prng): Buffer {
    const tail = mixedBytes(rng.logInt(16 * KIB, 1280 * KIB), this.nextSeed());
    return rng.float() < 0.6 ? Buffer.concat([rng.pick(this.shared), tail]) : tail;
  }

  small(rng: Prng): Buffer {
    return mixedBytes(rng.logInt(200, 32 * KIB), this.nextSeed());
  }

  private nextSeed(): number {
    return (this.seed * 1_000_003 + ++this.serial) | 0;
  }
}

export interface LoadOptions {
  address: string;
  ledger: Ledger;
  rng: Prng;
  /** Seed of the blob contents (distinct per stack, so stacks sharing a bucket never collide). */
  contentSeed: number;
  writers: number;
  /** Called after each acknowledgement (the kill trigger counts them). */
  onAck(): void;
  /** True once the kill was sent: failures after it are expected, before it they fail the test. */
  killed(): boolean;
}

export interface LoadResult {
  /** Failures while the daemon was alive (must be none). */
  readonly unexpected: string[];
}

/** Runs `writers` clients until the daemon dies; resolves once every writer has seen its call fail. */
export async function writeUntilKilled(opts: LoadOptions, contents = new Contents(opts.contentSeed)): Promise<LoadResult> {
  const unexpected: string[] = [];
  const clients = Array.from({ length: opts.writers }, () => createReapiClient(opts.address));
  const failed = (what: string) => (err: ServiceError) => {
    if (!opts.killed()) unexpected.push(`${what}: ${err.code} ${err.details ?? err.message}`);
    return false;
  };
  const writer = async (client: ReapiClient) => {
    for (let alive = true; alive && !opts.killed(); ) {
      const r = opts.rng.float();
      if (r < 0.45) alive = await byteStream(client, contents.large(opts.rng)).catch(failed('ByteStream.Write'));
      else if (r < 0.8 || opts.ledger.blobs.size === 0) {
        const n = opts.rng.int(2, 7);
        alive = await batch(client, Array.from({ length: n }, () => contents.small(opts.rng))).catch(failed('BatchUpdateBlobs'));
      } else alive = await action(client).catch(failed('UpdateActionResult'));
    }
  };
  const byteStream = async (client: ReapiClient, data: Buffer) => {
    const digest = digestOf(data);
    opts.ledger.attempt(digest);
    await client.uploadBlob(data, '', { chunkSize: 64 * KIB });
    opts.ledger.ack(digest);
    opts.onAck();
    return true;
  };
  const batch = async (client: ReapiClient, blobs: Buffer[]) => {
    const requests = blobs.map((data) => ({ digest: digestOf(data), data }));
    for (const r of requests) opts.ledger.attempt(r.digest);
    const res = await client.batchUpdateBlobs({ requests });
    res.responses.forEach((r, i) => {
      const code = r.status?.code ?? 0;
      if (code === 0) opts.ledger.ack(requests[i]!.digest);
      else if (!opts.killed()) unexpected.push(`BatchUpdateBlobs item ${i}: ${code} ${r.status?.message}`);
    });
    opts.onAck();
    return true;
  };
  const action = async (client: ReapiClient) => {
    const known = [...opts.ledger.blobs.values()];
    const outputs = Array.from({ length: opts.rng.int(1, 4) }, () => opts.rng.pick(known));
    const entry: AcEntry = { action: digestOf(mixedBytes(64, opts.rng.next())), outputs };
    opts.ledger.attemptAction(entry);
    await client.updateActionResult({ actionDigest: entry.action, actionResult: actionResultOf(outputs) });
    opts.ledger.ackAction(entry);
    opts.onAck();
    return true;
  };
  try {
    await Promise.all(clients.map(writer));
  } finally {
    for (const c of clients) c.close();
  }
  return { unexpected };
}
