// The catalog's side of dedup stores: each blob's ordered chunk list (a cache
// of its index entry), which chunks the content store is known to hold, and
// how many blob rows reference each chunk.
//
// Invariants kept by doing every change to a blob in one transaction:
// - dedup_chunks.refs = number of dedup_blob_chunks rows (pending or committed)
//   naming that chunk, so a chunk with refs > 0 is never freed.
// - A committed blob row is written only after its index entry is in the index
//   store (or was read from there), so it never names an unreadable blob.
// - A chunk row whose refs drop to 0 (or that an upload relies on) gets
//   created_at = now: gc frees orphans only after a grace period, which
//   covers an upload that skipped the chunk and has not committed yet.
import type Database from 'better-sqlite3';
import { type Digest, digestKey } from '../util/digest.js';

export interface DedupBlobInfo {
  readonly digest: Digest;
  readonly chunkCount: number;
  readonly createdAtMs: number;
  readonly accessedAtMs: number;
}

export interface DedupIndexStats {
  /** Committed blobs. */
  readonly blobs: number;
  /** Sum of the committed blobs' sizes. */
  readonly logicalBytes: number;
  /** Distinct chunks known to be in the content store (orphans included). */
  readonly chunks: number;
  /** Logical bytes of those chunks (what they occupy after compression is the compression store's number). */
  readonly chunkBytes: number;
}

type Key3 = [string, string, number];

/** Counts repeated chunks once each, keeping the first digest. */
function countChunks(chunks: readonly Digest[]): Map<string, { digest: Digest; n: number }> {
  const counts = new Map<string, { digest: Digest; n: number }>();
  for (const c of chunks) {
    const k = digestKey(c);
    const seen = counts.get(k);
    if (seen) seen.n += 1;
    else counts.set(k, { digest: c, n: 1 });
  }
  return counts;
}

export class DedupIndex {
  private readonly s;
  private readonly forgetTx: (storeId: string, blob: Digest, now: number) => boolean;
  private readonly insertBlobTx: (
    storeId: string,
    blob: Digest,
    chunks: readonly Digest[],
    state: 'pending' | 'committed',
    now: number,
  ) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {
    const blobKey = 'store_id = ? AND hash = ? AND size = ?';
    const chunkKey = 'store_id = ? AND hash = ? AND size = ?';
    this.s = {
      blobState: db.prepare<Key3, { state: string }>(`SELECT state FROM dedup_blobs WHERE ${blobKey}`),
      insertBlob: db.prepare(
        `INSERT INTO dedup_blobs (store_id, hash, size, chunk_count, state, created_at, accessed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      deleteBlob: db.prepare<Key3>(`DELETE FROM dedup_blobs WHERE ${blobKey}`),
      commitBlob: db.prepare<Key3>(`UPDATE dedup_blobs SET state = 'committed' WHERE ${blobKey} AND state = 'pending'`),
      touchBlob: db.prepare<[number, ...Key3]>(`UPDATE dedup_blobs SET accessed_at = ? WHERE ${blobKey}`),
      pending: db.prepare<[string], { hash: string; size: number }>(
        `SELECT hash, size FROM dedup_blobs WHERE store_id = ? AND state = 'pending'`,
      ),
      blobPage: db.prepare<
        [string, string, string, number],
        { hash: string; size: number; chunk_count: number; created_at: number; accessed_at: number }
      >(
        `SELECT hash, size, chunk_count, created_at, accessed_at FROM dedup_blobs
         WHERE store_id = ? AND state = 'committed' AND (hash > ? OR (hash = ? AND size > ?))
         ORDER BY hash, size LIMIT 500`,
      ),
      insertBlobChunk: db.prepare(
        `INSERT INTO dedup_blob_chunks (store_id, blob_hash, blob_size, seq, chunk_hash, chunk_size) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      blobChunks: db.prepare<Key3, { chunk_hash: string; chunk_size: number }>(
        `SELECT chunk_hash, chunk_size FROM dedup_blob_chunks WHERE store_id = ? AND blob_hash = ? AND blob_size = ? ORDER BY seq`,
      ),
      blobChunkCounts: db.prepare<Key3, { chunk_hash: string; chunk_size: number; n: number }>(
        `SELECT chunk_hash, chunk_size, COUNT(*) AS n FROM dedup_blob_chunks
         WHERE store_id = ? AND blob_hash = ? AND blob_size = ? GROUP BY chunk_hash, chunk_size`,
      ),
      deleteBlobChunks: db.prepare<Key3>(`DELETE FROM dedup_blob_chunks WHERE store_id = ? AND blob_hash = ? AND blob_size = ?`),
      blobsUsingChunk: db.prepare<Key3, { blob_hash: string; blob_size: number }>(
        `SELECT DISTINCT blob_hash, blob_size FROM dedup_blob_chunks WHERE store_id = ? AND chunk_hash = ? AND chunk_size = ?`,
      ),
      chunkRefs: db.prepare<Key3, { refs: number }>(`SELECT refs FROM dedup_chunks WHERE ${chunkKey}`),
      addRefs: db.prepare(
        `INSERT INTO dedup_chunks (store_id, hash, size, refs, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (store_id, hash, size) DO UPDATE SET refs = refs + excluded.refs`,
      ),
      dropRefs: db.prepare<[number, number, number, ...Key3]>(
        `UPDATE dedup_chunks SET refs = MAX(0, refs - ?), created_at = CASE WHEN refs - ? <= 0 THEN ? ELSE created_at END
         WHERE ${chunkKey}`,
      ),
      recordChunk: db.prepare(
        `INSERT INTO dedup_chunks (store_id, hash, size, refs, created_at) VALUES (?, ?, ?, 0, ?)
         ON CONFLICT (store_id, hash, size) DO UPDATE SET
           created_at = CASE WHEN refs = 0 THEN excluded.created_at ELSE created_at END`,
      ),
      deleteChunk: db.prepare<Key3>(`DELETE FROM dedup_chunks WHERE ${chunkKey}`),
      deleteOrphan: db.prepare<Key3>(`DELETE FROM dedup_chunks WHERE ${chunkKey} AND refs = 0`),
      orphans: db.prepare<[string, number, number], { hash: string; size: number }>(
        `SELECT hash, size FROM dedup_chunks WHERE store_id = ? AND refs = 0 AND created_at < ? ORDER BY created_at LIMIT ?`,
      ),
      blobTotals: db.prepare<[string], { n: number; bytes: number }>(
        `SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM dedup_blobs WHERE store_id = ? AND state = 'committed'`,
      ),
      chunkTotals: db.prepare<[string], { n: number; bytes: number }>(
        `SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM dedup_chunks WHERE store_id = ?`,
      ),
    };

    this.forgetTx = db.transaction((storeId: string, blob: Digest, now: number): boolean => {
      const key: Key3 = [storeId, blob.hash, blob.sizeBytes];
      if (this.s.blobState.get(...key) === undefined) return false;
      for (const row of this.s.blobChunkCounts.all(...key)) {
        this.s.dropRefs.run(row.n, row.n, now, storeId, row.chunk_hash, row.chunk_size);
      }
      this.s.deleteBlobChunks.run(...key);
      this.s.deleteBlob.run(...key);
      return true;
    });

    this.insertBlobTx = db.transaction(
      (storeId: string, blob: Digest, chunks: readonly Digest[], state: 'pending' | 'committed', now: number) => {
        // A row left by an earlier upload of the same blob is replaced, its references released.
        this.forgetTx(storeId, blob, now);
        this.s.insertBlob.run(storeId, blob.hash, blob.sizeBytes, chunks.length, state, now, now);
        chunks.forEach((c, seq) => this.s.insertBlobChunk.run(storeId, blob.hash, blob.sizeBytes, seq, c.hash, c.sizeBytes));
        for (const { digest, n } of countChunks(chunks).values()) {
          this.s.addRefs.run(storeId, digest.hash, digest.sizeBytes, n, now);
        }
      },
    );
  }

  // --- used by the dedup store ---------------------------------------------

  /**
   * Records chunks the content store now holds (just uploaded, or confirmed
   * by it), unreferenced so far. A known orphan is claimed (its grace period
   * restarts): the caller is about to reference it without uploading it again.
   */
  recordChunks(storeId: string, chunks: readonly Digest[]): void {
    if (chunks.length === 0) return;
    const now = this.now();
    this.db.transaction(() => {
      for (const c of chunks) this.s.recordChunk.run(storeId, c.hash, c.sizeBytes, now);
    })();
  }

  /**
   * Phase one of a blob's commit: a 'pending' row with its chunk list, and a
   * reference on each chunk, in one transaction. Replaces any earlier row of the blob.
   */
  beginBlob(storeId: string, blob: Digest, chunks: readonly Digest[]): void {
    this.insertBlobTx(storeId, blob, chunks, 'pending', this.now());
  }

  /** Phase two, after the index entry is in the index store. False if the row is gone or already committed. */
  commitBlob(storeId: string, blob: Digest): boolean {
    return this.s.commitBlob.run(storeId, blob.hash, blob.sizeBytes).changes > 0;
  }

  /** Undoes beginBlob (the index entry could not be written): the pending row goes, its references are released. */
  abortBlob(storeId: string, blob: Digest): boolean {
    const state = this.s.blobState.get(storeId, blob.hash, blob.sizeBytes)?.state;
    return state === 'pending' && this.forgetTx(storeId, blob, this.now());
  }

  /** Records a blob whose index entry was read back from the index store and whose chunks were all confirmed present. */
  cacheBlob(storeId: string, blob: Digest, chunks: readonly Digest[]): void {
    this.insertBlobTx(storeId, blob, chunks, 'committed', this.now());
  }

  /** Blobs left 'pending' by a process that stopped between the two phases. */
  pendingBlobs(storeId: string): Digest[] {
    return this.s.pending.all(storeId).map((r) => ({ hash: r.hash, sizeBytes: r.size }));
  }

  /** The state of a blob's row, if it has one. */
  blobState(storeId: string, blob: Digest): 'pending' | 'committed' | undefined {
    return this.s.blobState.get(storeId, blob.hash, blob.sizeBytes)?.state as 'pending' | 'committed' | undefined;
  }

  /** Records reads of blobs (LRU for gc), in one transaction. */
  touch(storeId: string, blobs: readonly Digest[], atMs = this.now()): void {
    if (blobs.length === 0) return;
    this.db.transaction(() => {
      for (const b of blobs) this.s.touchBlob.run(atMs, storeId, b.hash, b.sizeBytes);
    })();
  }

  /**
   * The content store lost or damaged a chunk: every blob referencing it is
   * unreadable, so their rows go (they read as missing and get uploaded
   * again), and so does the chunk's row, so that upload writes it again.
   * Returns the blobs forgotten.
   */
  loseChunk(storeId: string, chunk: Digest): Digest[] {
    const now = this.now();
    return this.db.transaction(() => {
      const blobs = this.s.blobsUsingChunk
        .all(storeId, chunk.hash, chunk.sizeBytes)
        .map((r) => ({ hash: r.blob_hash, sizeBytes: r.blob_size }));
      for (const b of blobs) this.forgetTx(storeId, b, now);
      this.s.deleteChunk.run(storeId, chunk.hash, chunk.sizeBytes);
      return blobs;
    })();
  }

  // --- used by gc / verify / ls / stats -----------------------------------

  /** Forgets a blob: its row and chunk list go, its chunks' references are released. True if it had a row. */
  forgetBlob(storeId: string, blob: Digest): boolean {
    return this.forgetTx(storeId, blob, this.now());
  }

  /** Unreferenced chunks whose grace period started before `createdBeforeMs`, oldest first. */
  orphanChunks(storeId: string, createdBeforeMs: number, limit: number): Digest[] {
    return this.s.orphans.all(storeId, createdBeforeMs, limit).map((r) => ({ hash: r.hash, sizeBytes: r.size }));
  }

  /**
   * Forgets an unreferenced chunk. Returns false (and keeps the row) when a
   * blob references it again: then its content must not be deleted. Call it
   * before deleting the content.
   */
  dropChunk(storeId: string, chunk: Digest): boolean {
    return this.s.deleteOrphan.run(storeId, chunk.hash, chunk.sizeBytes).changes > 0;
  }

  /** How many blob rows reference the chunk (0 when unknown). */
  chunkRefs(storeId: string, chunk: Digest): number {
    return this.s.chunkRefs.get(storeId, chunk.hash, chunk.sizeBytes)?.refs ?? 0;
  }

  /** Committed blobs, in pages, so the caller may change the catalog while iterating. */
  *blobs(storeId: string): Iterable<DedupBlobInfo> {
    let after = { hash: '', size: -1 };
    for (;;) {
      const page = this.s.blobPage.all(storeId, after.hash, after.hash, after.size);
      for (const r of page) {
        yield {
          digest: { hash: r.hash, sizeBytes: r.size },
          chunkCount: r.chunk_count,
          createdAtMs: r.created_at,
          accessedAtMs: r.accessed_at,
        };
      }
      if (page.length < 500) return;
      const last = page[page.length - 1]!;
      after = { hash: last.hash, size: last.size };
    }
  }

  /** The ordered chunk list of a committed blob, or undefined. */
  chunksOf(storeId: string, blob: Digest): Digest[] | undefined {
    if (this.blobState(storeId, blob) !== 'committed') return undefined;
    return this.s.blobChunks.all(storeId, blob.hash, blob.sizeBytes).map((r) => ({ hash: r.chunk_hash, sizeBytes: r.chunk_size }));
  }

  stats(storeId: string): DedupIndexStats {
    const b = this.s.blobTotals.get(storeId)!;
    const c = this.s.chunkTotals.get(storeId)!;
    return { blobs: b.n, logicalBytes: b.bytes, chunks: c.n, chunkBytes: c.bytes };
  }
}
