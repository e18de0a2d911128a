// Checks the dedup reference-count invariant straight in a catalog file, the
// way a reopened daemon would find it: every chunk's refs equals the number of
// blob-chunk rows naming it, and no blob-chunk row names an unknown chunk.
import Database from 'better-sqlite3';

export function dedupRefsConsistency(path: string): { mismatches: unknown[]; dangling: number } {
  const db = new Database(path, { readonly: true });
  try {
    const mismatches = db
      .prepare(
        `SELECT c.store_id, c.hash, c.size, c.refs, COUNT(bc.seq) AS used FROM dedup_chunks c
         LEFT JOIN dedup_blob_chunks bc ON bc.store_id = c.store_id AND bc.chunk_hash = c.hash AND bc.chunk_size = c.size
         GROUP BY c.store_id, c.hash, c.size HAVING c.refs <> COUNT(bc.seq)`,
      )
      .all();
    const dangling = (
      db
        .prepare(
          `SELECT COUNT(*) AS n FROM dedup_blob_chunks bc WHERE NOT EXISTS
           (SELECT 1 FROM dedup_chunks c WHERE c.store_id = bc.store_id AND c.hash = bc.chunk_hash AND c.size = bc.chunk_size)`,
        )
        .get() as { n: number }
    ).n;
    return { mismatches, dangling };
  } finally {
    db.close();
  }
}

/** Which of `chunks` have a dedup_chunks row (the catalog believes the content store holds them), read straight from the file. */
export function knownChunkRows(path: string, storeId: string, chunks: readonly { hash: string; sizeBytes: number }[]): boolean[] {
  const db = new Database(path, { readonly: true });
  try {
    const row = db.prepare('SELECT 1 FROM dedup_chunks WHERE store_id = ? AND hash = ? AND size = ?');
    return chunks.map((c) => row.get(storeId, c.hash, c.sizeBytes) !== undefined);
  } finally {
    db.close();
  }
}
