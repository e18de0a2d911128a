// The index of a local (filesystem) store: one row per committed file, so a
// restart loads the store's content and LRU order from here instead of
// scanning its directory. See migrations.ts, version 3. Small values may live
// here instead of in a file (version 5): the row is marked `inline` and the
// bytes sit in store_inline_values, written in the same transaction.
//
// Ordering with the files keeps the promise "no row without a file": a row is
// written after its file is renamed into place and deleted before the file is
// unlinked. All writes go through the relaxed connection (synchronous=NORMAL):
// in WAL mode a commit survives a SIGKILL of the daemon; an OS crash may lose
// the last commits, which leaves a file without a row (a stray that gc adopts
// or removes) or a row whose file is gone (dropped from the index when a read
// finds it missing). An inline value and its row commit together, so an OS
// crash may lose both (the value then reads as missing) but never tears it.
import type Database from 'better-sqlite3';
import type { Digest } from '../util/digest.js';

export interface StoreEntryRow {
  readonly key: Digest;
  /** Bytes in the file (what has() reports; differs from key.sizeBytes in the action cache). */
  readonly storedSize: number;
  /** Last access, ms since the epoch. */
  readonly accessedAt: number;
  /** The value's bytes are in the catalog (inlineValue), not in a file. */
  readonly inline: boolean;
}

export interface StoreIndexState {
  /** What the rows index (the store's content_path). */
  readonly location: string;
  /** When the index was last rebuilt from the directory, ms since the epoch. */
  readonly indexedAt: number;
}

interface RawRow {
  hash: string;
  key_size: number;
  stored_size: number;
  accessed_at: number;
  inline: number;
}

interface PendingPut {
  storeId: string;
  key: Digest;
  storedSize: number;
  accessedAt: number;
  /** The value's bytes, for a value kept inline. */
  data: Buffer | undefined;
  done: (err?: unknown) => void;
}

export class StoreEntries {
  /** Rows recorded in this turn of the event loop, committed together (putBatched). */
  private pendingPuts: PendingPut[] = [];
  private readonly upsert;
  private readonly upsertValue;
  private readonly selectValue;
  private readonly deleteOne;
  private readonly touchOne;
  private readonly selectAll;
  private readonly selectState;
  private readonly deleteAll;
  private readonly upsertState;
  private readonly deleteState;
  private readonly countRows;

  /** Rows of several uploads in one transaction (built once: better-sqlite3 compiles the wrapper). */
  private readonly putAll: (batch: readonly PendingPut[]) => void;

  constructor(private readonly db: Database.Database) {
    this.putAll = db.transaction((batch: readonly PendingPut[]) => {
      for (const p of batch) this.putOne(p);
    });
    // Turning an inline row into a file row drops its value (trigger store_entries_inline_to_file).
    this.upsert = db.prepare(
      `INSERT INTO store_entries (store_id, hash, key_size, stored_size, accessed_at, inline) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (store_id, hash, key_size) DO UPDATE SET
         stored_size = excluded.stored_size, accessed_at = excluded.accessed_at, inline = excluded.inline`,
    );
    this.upsertValue = db.prepare(
      `INSERT INTO store_inline_values (store_id, hash, key_size, data) VALUES (?, ?, ?, ?)
       ON CONFLICT (store_id, hash, key_size) DO UPDATE SET data = excluded.data`,
    );
    this.selectValue = db
      .prepare<[string, string, number], Buffer>('SELECT data FROM store_inline_values WHERE store_id = ? AND hash = ? AND key_size = ?')
      .pluck();
    this.deleteOne = db.prepare('DELETE FROM store_entries WHERE store_id = ? AND hash = ? AND key_size = ?');
    // Only an existing row: an access recorded after the file was evicted must not bring the row back.
    this.touchOne = db.prepare(
      'UPDATE store_entries SET accessed_at = ? WHERE store_id = ? AND hash = ? AND key_size = ? AND accessed_at < ?',
    );
    this.selectAll = db.prepare<[string], RawRow>(
      `SELECT hash, key_size, stored_size, accessed_at, inline FROM store_entries WHERE store_id = ?
       ORDER BY accessed_at, hash, key_size`,
    );
    this.selectState = db.prepare<[string], { location: string; indexed_at: number }>(
      'SELECT location, indexed_at FROM store_index_state WHERE store_id = ?',
    );
    this.deleteAll = db.prepare('DELETE FROM store_entries WHERE store_id = ?');
    this.upsertState = db.prepare(
      `INSERT INTO store_index_state (store_id, location, indexed_at) VALUES (?, ?, ?)
       ON CONFLICT (store_id) DO UPDATE SET location = excluded.location, indexed_at = excluded.indexed_at`,
    );
    this.deleteState = db.prepare('DELETE FROM store_index_state WHERE store_id = ?');
    this.countRows = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM store_entries WHERE store_id = ?');
  }

  /** Whether (and for which location) the rows of `storeId` are a complete index. */
  indexState(storeId: string): StoreIndexState | undefined {
    const row = this.selectState.get(storeId);
    return row === undefined ? undefined : { location: row.location, indexedAt: row.indexed_at };
  }

  /** Every row of `storeId`, least recently accessed first. */
  *rows(storeId: string): Generator<StoreEntryRow> {
    for (const r of this.selectAll.iterate(storeId)) {
      yield { key: { hash: r.hash, sizeBytes: r.key_size }, storedSize: r.stored_size, accessedAt: r.accessed_at, inline: r.inline !== 0 };
    }
  }

  count(storeId: string): number {
    return this.countRows.get(storeId)!.n;
  }

  /** The bytes of a value kept inline, or undefined if there is none (never was, or deleted meanwhile). */
  inlineValue(storeId: string, key: Digest): Buffer | undefined {
    return this.selectValue.get(storeId, key.hash, key.sizeBytes);
  }

  /**
   * Replaces the index of `storeId` by `rows` (a fresh scan of `location`:
   * files only, so inline values go with the old rows) and marks it complete,
   * in one transaction: a crash leaves the old index or the new one, never
   * half of it.
   */
  replaceAll(storeId: string, location: string, rows: Iterable<Omit<StoreEntryRow, 'inline'>>, now: number): void {
    this.db.transaction(() => {
      this.deleteAll.run(storeId);
      for (const r of rows) this.upsert.run(storeId, r.key.hash, r.key.sizeBytes, r.storedSize, r.accessedAt, 0);
      this.upsertState.run(storeId, location, now);
    })();
  }

  /** Records a file just renamed into place (or replaced). */
  put(storeId: string, key: Digest, storedSize: number, accessedAt: number): void {
    this.upsert.run(storeId, key.hash, key.sizeBytes, storedSize, accessedAt, 0);
  }

  /** A file row, or an inline row and its value (the caller's transaction makes them one commit). */
  private putOne(p: Omit<PendingPut, 'done'>): void {
    if (p.data === undefined) return this.put(p.storeId, p.key, p.storedSize, p.accessedAt);
    this.upsert.run(p.storeId, p.key.hash, p.key.sizeBytes, p.storedSize, p.accessedAt, 1);
    this.upsertValue.run(p.storeId, p.key.hash, p.key.sizeBytes, p.data);
  }

  /**
   * Records a file just renamed into place, in one transaction with the other
   * rows recorded in the same turn of the event loop (uploads finishing
   * together): a commit per file costs more than the row. Resolves once the
   * row is committed; rejects (as do the others of its transaction) if it
   * could not be. With `data`, the value itself is kept inline, in the same
   * commit as its row.
   */
  putBatched(storeId: string, key: Digest, storedSize: number, accessedAt: number, data?: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pendingPuts.length === 0) setImmediate(() => this.commitPuts());
      this.pendingPuts.push({ storeId, key, storedSize, accessedAt, data, done: (err) => (err === undefined ? resolve() : reject(err)) });
    });
  }

  private commitPuts(): void {
    const batch = this.pendingPuts;
    this.pendingPuts = [];
    try {
      // One file row commits on its own: BEGIN and COMMIT would cost more than they save.
      if (batch.length === 1 && batch[0]!.data === undefined) this.putOne(batch[0]!);
      else this.putAll(batch);
    } catch (err) {
      for (const p of batch) p.done(err ?? new Error('unknown catalog error'));
      return;
    }
    for (const p of batch) p.done();
  }

  /** Forgets a file about to be unlinked (or found missing). True if there was a row. */
  delete(storeId: string, key: Digest): boolean {
    return this.deleteOne.run(storeId, key.hash, key.sizeBytes).changes > 0;
  }

  /** Records access times in one transaction; rows that are gone stay gone, times never move back. */
  touch(storeId: string, accesses: Iterable<{ key: Digest; accessedAt: number }>): void {
    this.db.transaction(() => {
      for (const a of accesses) this.touchOne.run(a.accessedAt, storeId, a.key.hash, a.key.sizeBytes, a.accessedAt);
    })();
  }

  /** Drops the index of `storeId` and its completeness mark (the next start rescans). */
  forgetStore(storeId: string): void {
    this.db.transaction(() => {
      this.deleteAll.run(storeId);
      this.deleteState.run(storeId);
    })();
  }
}
