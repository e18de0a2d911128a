// The catalog's schema, as an ordered list of steps. `PRAGMA user_version`
// holds the number of steps applied; opening a catalog applies the rest, each
// in its own transaction, so a crash mid-migration leaves the previous version.
// Never edit a step that has shipped: add a new one.
import type Database from 'better-sqlite3';

export interface Migration {
  /** The user_version after this step. Steps are numbered 1, 2, 3, ... */
  readonly version: number;
  readonly description: string;
  up(db: Database.Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'upload journal and slow-tier presence',
    up(db) {
      // Uploads a fast_slow store in write-behind mode still owes its slow tier.
      // (store_id, hash, key_size) is the blob's identity; value_size is what
      // the fast tier holds under that key (differs from key_size in the action
      // cache). `version` grows each time the key is written again, so an upload
      // of an older value cannot clear the row of a newer one.
      db.exec(`
        CREATE TABLE upload_journal (
          store_id        TEXT    NOT NULL,
          hash            TEXT    NOT NULL,
          key_size        INTEGER NOT NULL,
          value_size      INTEGER NOT NULL,
          version         INTEGER NOT NULL DEFAULT 1,
          enqueued_at     INTEGER NOT NULL,
          attempts        INTEGER NOT NULL DEFAULT 0,
          last_error      TEXT,
          next_attempt_at INTEGER NOT NULL,
          PRIMARY KEY (store_id, hash, key_size)
        ) WITHOUT ROWID;
        CREATE INDEX upload_journal_due ON upload_journal (store_id, next_attempt_at);
      `);
      // What the slow tier of a fast_slow store is known to hold, so FindMissingBlobs
      // need not ask it. `slow_tier` fingerprints the slow tier's config: knowledge
      // about another bucket is worthless. Verified = uploaded or seen there.
      db.exec(`
        CREATE TABLE slow_tier_presence (
          store_id    TEXT    NOT NULL,
          hash        TEXT    NOT NULL,
          key_size    INTEGER NOT NULL,
          slow_tier   TEXT    NOT NULL,
          value_size  INTEGER NOT NULL,
          verified_at INTEGER NOT NULL,
          PRIMARY KEY (store_id, hash, key_size)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 2,
    description: 'dedup blob index, chunk reference counts, lifetime counters',
    up(db) {
      // A dedup store's blobs: the ordered chunk list of each (cached from its
      // index entry) and their state. A blob is 'pending' from the moment its
      // chunks are counted until its index entry is written, then 'committed';
      // a pending row found at start is settled against the index store. Only
      // committed rows are ever used to answer a read.
      db.exec(`
        CREATE TABLE dedup_blobs (
          store_id     TEXT    NOT NULL,
          hash         TEXT    NOT NULL,
          size         INTEGER NOT NULL,
          chunk_count  INTEGER NOT NULL,
          state        TEXT    NOT NULL CHECK (state IN ('pending', 'committed')),
          created_at   INTEGER NOT NULL,
          accessed_at  INTEGER NOT NULL,
          PRIMARY KEY (store_id, hash, size)
        ) WITHOUT ROWID;
        CREATE INDEX dedup_blobs_lru ON dedup_blobs (store_id, accessed_at);
        CREATE TABLE dedup_blob_chunks (
          store_id    TEXT    NOT NULL,
          blob_hash   TEXT    NOT NULL,
          blob_size   INTEGER NOT NULL,
          seq         INTEGER NOT NULL,
          chunk_hash  TEXT    NOT NULL,
          chunk_size  INTEGER NOT NULL,
          PRIMARY KEY (store_id, blob_hash, blob_size, seq)
        ) WITHOUT ROWID;
      `);
      // Chunks a dedup store knows its content store holds, and how many blob
      // rows (pending or committed) reference each. refs = 0 is an orphan that
      // gc may free once it is older than a grace period (an upload in progress
      // counts its chunks only when it has them all).
      db.exec(`
        CREATE TABLE dedup_chunks (
          store_id    TEXT    NOT NULL,
          hash        TEXT    NOT NULL,
          size        INTEGER NOT NULL,
          refs        INTEGER NOT NULL DEFAULT 0 CHECK (refs >= 0),
          stored_size INTEGER,
          created_at  INTEGER NOT NULL,
          PRIMARY KEY (store_id, hash, size)
        ) WITHOUT ROWID;
        CREATE INDEX dedup_chunks_orphans ON dedup_chunks (store_id, created_at) WHERE refs = 0;
      `);
      // Lifetime totals for stats (per-process numbers live in memory).
      db.exec(`
        CREATE TABLE counters (
          name  TEXT    PRIMARY KEY,
          value INTEGER NOT NULL
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 3,
    description: 'local store entries, so a restart does not rescan content directories',
    up(db) {
      // What a filesystem store holds: one row per committed file, written
      // after the file is renamed into place and deleted before it is unlinked,
      // so a row never outlives its file by a crash (a file without a row is a
      // stray that gc adopts or removes). `store_index_state` says the rows of
      // a store are a complete index of `location`; without it the store scans
      // its directory once and records the result.
      db.exec(`
        CREATE TABLE store_entries (
          store_id     TEXT    NOT NULL,
          hash         TEXT    NOT NULL,
          key_size     INTEGER NOT NULL,
          stored_size  INTEGER NOT NULL,
          accessed_at  INTEGER NOT NULL,
          PRIMARY KEY (store_id, hash, key_size)
        ) WITHOUT ROWID;
        CREATE INDEX store_entries_lru ON store_entries (store_id, accessed_at);
        CREATE TABLE store_index_state (
          store_id    TEXT    PRIMARY KEY,
          location    TEXT    NOT NULL,
          indexed_at  INTEGER NOT NULL
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 4,
    description: 'dedup: find the blobs that use a chunk',
    up(db) {
      // When a chunk turns out lost or damaged, every blob using it must be
      // forgotten (it reads as missing and is uploaded again); gc and verify
      // ask the same question.
      db.exec('CREATE INDEX dedup_blob_chunks_by_chunk ON dedup_blob_chunks (store_id, chunk_hash, chunk_size)');
    },
  },
  {
    version: 5,
    description: 'local stores keep small values inline in the catalog',
    up(db) {
      // A filesystem store keeps a value of a few KiB (Action, Command,
      // ActionResult protos) here instead of in a file of its own: one row in
      // the same commit as its index entry costs less than creating, syncing
      // and renaming a file. `inline` marks such entries so a restart knows
      // without reading the blobs; their bytes live in a table of their own so
      // loading the index reads small rows only. The trigger keeps the two in
      // step for every way an entry is deleted (eviction, removal, rescan) or
      // becomes a file again (an upload or an adopted output replacing it).
      db.exec(`
        ALTER TABLE store_entries ADD COLUMN inline INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE store_inline_values (
          store_id  TEXT    NOT NULL,
          hash      TEXT    NOT NULL,
          key_size  INTEGER NOT NULL,
          data      BLOB    NOT NULL,
          PRIMARY KEY (store_id, hash, key_size)
        ) WITHOUT ROWID;
        CREATE TRIGGER store_entries_drop_inline AFTER DELETE ON store_entries WHEN old.inline BEGIN
          DELETE FROM store_inline_values WHERE store_id = old.store_id AND hash = old.hash AND key_size = old.key_size;
        END;
        CREATE TRIGGER store_entries_inline_to_file AFTER UPDATE OF inline ON store_entries WHEN old.inline AND NOT new.inline BEGIN
          DELETE FROM store_inline_values WHERE store_id = old.store_id AND hash = old.hash AND key_size = old.key_size;
        END;
      `);
    },
  },
];

/** The schema version this build of ncache writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
