// What must hold after a SIGKILL and a restart on the same state dir and
// stores (docs/reliability.md "Crashes"):
// - no blob or action result acknowledged before the kill is missing;
// - every blob reported present reads back with the right hash (also those
//   whose upload was in flight at the kill);
// - the catalog's dedup chunk references match the committed index entries
//   and no upload is left pending;
// - uploads owed to S3 arrive (the bucket is polled, bounded).
import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import type { Prng } from '../../bench/corpus.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { dedupRefsConsistency } from '../helpers/dedup-consistency.js';
import type { DaemonProcess } from '../helpers/daemon-process.js';
import { type ReapiClient, type ServiceError, createReapiClient } from '../helpers/grpc-client.js';
import { waitFor } from '../helpers/wait-for.js';
import type { AcEntry, Ledger } from './crash-load.js';
import type { CrashBucket, CrashStack } from './crash-stacks.js';

/** How many earlier blobs and action results each round reads again (all of them are asked for with FindMissing). */
const OLDER_SAMPLE = 20;

/** Runs every check; returns how many blobs it read back. */
export async function checkAfterRestart(stack: CrashStack, daemon: DaemonProcess, ledger: Ledger, rng: Prng): Promise<number> {
  const client = createReapiClient(daemon.address);
  try {
    const acked = [...ledger.blobs.values()];
    expect(await missingOf(client, acked), 'acknowledged blobs reported missing').toEqual([]);
    // An upload the kill interrupted may or may not have landed; if the daemon says it did, it must read back.
    const unanswered = [...ledger.unanswered.values()];
    const missing = new Set((await missingOf(client, unanswered)).map(digestKey));
    const landed = unanswered.filter((d) => !missing.has(digestKey(d)));
    const older = sample(rng, acked.filter((d) => !ledger.roundBlobs.includes(d)), OLDER_SAMPLE);
    const reread = [...ledger.roundBlobs, ...landed, ...older];
    for (const d of reread) {
      const data = await client.downloadBlob(d);
      expect(digestOf(data), `blob ${digestKey(d)} read back`).toEqual(d);
    }
    // Reported present, so a client will never upload them again: from now on they count as acknowledged.
    for (const d of landed) ledger.ack(d);

    await checkActions(client, ledger, rng);
    if (stack.name !== 'filesystem default') await checkDedupCatalog(stack, reread);
    if (stack.bucket !== undefined) await waitForOwedUploads(stack.bucket, stack, ledger);
    return reread.length;
  } finally {
    client.close();
  }
}

async function missingOf(client: ReapiClient, digests: readonly Digest[]): Promise<Digest[]> {
  const out: Digest[] = [];
  for (let i = 0; i < digests.length; i += 1000) {
    const res = await client.findMissingBlobs({ blobDigests: digests.slice(i, i + 1000) });
    out.push(...res.missingBlobDigests);
  }
  return out;
}

function sample<T>(rng: Prng, items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, () => rng.pick(items));
}

const outputsOf = async (client: ReapiClient, e: AcEntry) =>
  (await client.getActionResult({ actionDigest: e.action })).outputFiles.map((f) => f.digest);

async function checkActions(client: ReapiClient, ledger: Ledger, rng: Prng): Promise<void> {
  const older = sample(rng, [...ledger.actions.values()].filter((e) => !ledger.roundActions.includes(e)), OLDER_SAMPLE);
  for (const e of [...ledger.roundActions, ...older]) {
    expect(await outputsOf(client, e), `action result ${digestKey(e.action)}`).toEqual(e.outputs);
  }
  for (const e of ledger.unansweredActions.values()) {
    const got = await outputsOf(client, e).catch((err: ServiceError) => {
      if (err.code === status.NOT_FOUND) return undefined;
      throw err;
    });
    if (got === undefined) continue;
    expect(got, `interrupted action result ${digestKey(e.action)}`).toEqual(e.outputs);
    ledger.ackAction(e);
  }
}

/** The catalog, read-only: reference counts add up, nothing pending, and each blob's chunk rows are its index entry. */
async function checkDedupCatalog(stack: CrashStack, blobs: readonly Digest[]): Promise<void> {
  expect(dedupRefsConsistency(stack.catalogPath)).toEqual({ mismatches: [], dangling: 0 });
  const db = new Database(stack.catalogPath, { readonly: true });
  const catalogChunks = new Map<string, Digest[]>();
  try {
    const pending = db.prepare(`SELECT hash, size FROM dedup_blobs WHERE state = 'pending'`).all();
    expect(pending, 'dedup uploads still pending after the restart').toEqual([]);
    const chunksOf = db.prepare<[string, number], { hash: string; size: number }>(
      `SELECT bc.chunk_hash AS hash, bc.chunk_size AS size FROM dedup_blobs b
       JOIN dedup_blob_chunks bc ON bc.store_id = b.store_id AND bc.blob_hash = b.hash AND bc.blob_size = b.size
       WHERE b.hash = ? AND b.size = ? AND b.state = 'committed' ORDER BY bc.seq`,
    );
    for (const d of blobs) {
      catalogChunks.set(digestKey(d), chunksOf.all(d.hash, d.sizeBytes).map((r) => ({ hash: r.hash, sizeBytes: r.size })));
    }
  } finally {
    db.close();
  }
  for (const d of blobs) {
    const rows = catalogChunks.get(digestKey(d)) ?? [];
    expect(rows.length, `committed catalog rows of ${digestKey(d)}`).toBeGreaterThan(0);
    expect(await stack.indexEntry(d), `index entry of ${digestKey(d)} against its catalog rows`).toEqual(rows);
  }
}

/** Every acknowledged blob's index entry, its chunks and every action result reach the bucket. */
async function waitForOwedUploads(bucket: CrashBucket, stack: CrashStack, ledger: Ledger): Promise<void> {
  const chunks = new Set<string>();
  for (const d of ledger.roundBlobs) for (const c of (await stack.indexEntry(d)) ?? []) chunks.add(digestKey(c));
  const owed = async () => {
    const [index, content, ac] = await Promise.all([bucket.keys('index'), bucket.keys('dedup-cas'), bucket.keys('ac')]);
    return {
      index: [...ledger.blobs.keys()].filter((k) => !index.has(k)),
      chunks: [...chunks].filter((k) => !content.has(k)),
      ac: [...ledger.actions.keys()].filter((k) => !ac.has(k)),
    };
  };
  let last = { index: [] as string[], chunks: [] as string[], ac: [] as string[] };
  await waitFor(
    async () => {
      last = await owed();
      return last.index.length + last.chunks.length + last.ac.length === 0;
    },
    {
      what: () =>
        `uploads owed to S3 to arrive; still missing: ${last.index.length} index entries, ` +
        `${last.chunks.length} chunks, ${last.ac.length} action results`,
      timeoutMs: 60_000,
      intervalMs: 200,
    },
  );
}
