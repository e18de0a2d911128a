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
];

/** The schema version this build of ncache writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
