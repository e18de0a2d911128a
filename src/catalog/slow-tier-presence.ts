// What the slow tier of a fast_slow store is known to hold, so existence checks
// for blobs missing from the fast tier need not ask it (one HEAD per digest per
// build against S3 otherwise). Knowledge is recorded when an upload succeeds or
// the slow tier itself confirms a blob, and removed when a read finds it gone.
import Database from 'better-sqlite3';
import type { Digest } from '../util/digest.js';

export class SlowTierPresence {
  private readonly upsert;
  private readonly selectOne;
  private readonly deleteOne;
  private readonly deleteOtherTiers;

  constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(
      `INSERT INTO slow_tier_presence (store_id, hash, key_size, slow_tier, value_size, verified_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (store_id, hash, key_size) DO UPDATE SET
         slow_tier = excluded.slow_tier, value_size = excluded.value_size, verified_at = excluded.verified_at`,
    );
    this.selectOne = db.prepare<[string, string, number, string, number], { value_size: number }>(
      `SELECT value_size FROM slow_tier_presence
       WHERE store_id = ? AND hash = ? AND key_size = ? AND slow_tier = ? AND verified_at >= ?`,
    );
    this.deleteOne = db.prepare('DELETE FROM slow_tier_presence WHERE store_id = ? AND hash = ? AND key_size = ?');
    this.deleteOtherTiers = db.prepare('DELETE FROM slow_tier_presence WHERE store_id = ? AND slow_tier <> ?');
  }

  /** Records that `slowTier` holds each key with the given value size, verified at `now`. */
  record(storeId: string, slowTier: string, entries: readonly { key: Digest; valueSize: number }[], now: number): void {
    if (entries.length === 0) return;
    this.db.transaction(() => {
      for (const e of entries) this.upsert.run(storeId, e.key.hash, e.key.sizeBytes, slowTier, e.valueSize, now);
    })();
  }

  /** For each key, its value size if known present and verified at or after `notBefore`. */
  lookup(storeId: string, slowTier: string, keys: readonly Digest[], notBefore: number): (number | undefined)[] {
    return keys.map((k) => this.selectOne.get(storeId, k.hash, k.sizeBytes, slowTier, notBefore)?.value_size);
  }

  /** Forgets a key (the slow tier answered NOT_FOUND for it). */
  forget(storeId: string, key: Digest): boolean {
    return this.deleteOne.run(storeId, key.hash, key.sizeBytes).changes > 0;
  }

  /** Drops knowledge about slow tiers this store no longer uses (its config changed). */
  forgetOtherTiers(storeId: string, slowTier: string): number {
    return this.deleteOtherTiers.run(storeId, slowTier).changes;
  }
}

/** One key a slow tier is known to hold, as `ls` and `get` read it. */
export interface PresenceRow {
  hash: string;
  key_size: number;
  value_size: number;
}

/** Reads presence knowledge for `ls` and `get`; close it when done. */
export interface PresenceReader {
  rows(storeId: string, onlyHash?: string): Iterable<PresenceRow>;
  close(): void;
}

/**
 * Opens the catalog file read-only, on a connection of its own (the daemon's
 * Catalog keeps its connections to itself; WAL lets a reader run beside the
 * writers). Undefined when there is no catalog file: nothing is known.
 */
export function openPresenceReader(catalogPath: string): PresenceReader | undefined {
  let db: Database.Database;
  try {
    db = new Database(catalogPath, { readonly: true, fileMustExist: true });
  } catch {
    return undefined;
  }
  const all = db.prepare<[string], PresenceRow>('SELECT hash, key_size, value_size FROM slow_tier_presence WHERE store_id = ?');
  const one = db.prepare<[string, string], PresenceRow>(
    'SELECT hash, key_size, value_size FROM slow_tier_presence WHERE store_id = ? AND hash = ?',
  );
  return {
    rows: (storeId, onlyHash) => (onlyHash === undefined ? all.iterate(storeId) : one.iterate(storeId, onlyHash)),
    close: () => db.close(),
  };
}
