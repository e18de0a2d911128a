// What a running daemon's filesystem stores hold, read from its catalog on a
// read-only connection of the test's own: a value is listed there whether it
// is a file or kept inline (small values have no file to look for).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Digest } from '../../src/util/digest.js';

/** Ids of the filesystem stores (e.g. "CAS") whose index lists `key`, in the catalog under `stateDir`. */
export function storesListing(stateDir: string, key: Digest): string[] {
  const db = new Database(join(stateDir, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT store_id FROM store_entries WHERE hash = ? AND key_size = ? ORDER BY store_id')
      .pluck()
      .all(key.hash, key.sizeBytes) as string[];
  } finally {
    db.close();
  }
}

/** How many filesystem stores keep `key` inline in the catalog under `stateDir`. */
export function inlineCopies(stateDir: string, key: Digest): number {
  const db = new Database(join(stateDir, 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT count(*) FROM store_inline_values WHERE hash = ? AND key_size = ?').pluck().get(key.hash, key.sizeBytes) as number;
  } finally {
    db.close();
  }
}

/**
 * Deletes every inline copy of `key` behind the running daemon's back, as a
 * damaged catalog would lose it (its index rows stay, so the daemon finds out
 * on its next read). Returns how many there were.
 */
export function dropInlineCopies(stateDir: string, key: Digest): number {
  const db = new Database(join(stateDir, 'catalog.sqlite'), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare('DELETE FROM store_inline_values WHERE hash = ? AND key_size = ?').run(key.hash, key.sizeBytes).changes;
  } finally {
    db.close();
  }
}
