// What a running daemon's filesystem stores hold, read from its catalog on a
// connection of the test's own: a value is listed there whether it is a file
// or kept inline (small values have no file to look for).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Digest } from '../../src/util/digest.js';

/** Runs `use` on the catalog under `stateDir`, opened for this call only. */
function withCatalog<T>(stateDir: string, access: 'read' | 'write', use: (db: Database.Database) => T): T {
  const db = new Database(join(stateDir, 'catalog.sqlite'), { readonly: access === 'read', fileMustExist: true });
  try {
    // The daemon may hold the write lock for a moment.
    if (access === 'write') db.pragma('busy_timeout = 5000');
    return use(db);
  } finally {
    db.close();
  }
}

/** Ids of the filesystem stores (e.g. "CAS") whose index lists `key`, in the catalog under `stateDir`. */
export function storesListing(stateDir: string, key: Digest): string[] {
  return withCatalog(stateDir, 'read', (db) =>
    db.prepare('SELECT store_id FROM store_entries WHERE hash = ? AND key_size = ? ORDER BY store_id').pluck().all(key.hash, key.sizeBytes),
  ) as string[];
}

/** How many filesystem stores keep `key` inline in the catalog under `stateDir`. */
export function inlineCopies(stateDir: string, key: Digest): number {
  return withCatalog(stateDir, 'read', (db) =>
    db.prepare('SELECT count(*) FROM store_inline_values WHERE hash = ? AND key_size = ?').pluck().get(key.hash, key.sizeBytes),
  ) as number;
}

/**
 * Deletes every inline copy of `key` behind the running daemon's back, as a
 * damaged catalog would lose it (its index rows stay, so the daemon finds out
 * on its next read). Returns how many there were.
 */
export function dropInlineCopies(stateDir: string, key: Digest): number {
  return withCatalog(stateDir, 'write', (db) =>
    db.prepare('DELETE FROM store_inline_values WHERE hash = ? AND key_size = ?').run(key.hash, key.sizeBytes).changes,
  );
}
