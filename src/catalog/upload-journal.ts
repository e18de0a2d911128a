// The journal of uploads a write-behind fast_slow store still owes its slow
// tier. A row is written (and committed) before the client is told its upload
// succeeded, and removed only once the slow tier has the blob.
import type Database from 'better-sqlite3';
import type { Digest } from '../util/digest.js';

export interface JournalRow {
  readonly key: Digest;
  readonly valueSize: number;
  readonly version: number;
  readonly enqueuedAt: number;
  readonly attempts: number;
  readonly lastError: string | undefined;
  readonly nextAttemptAt: number;
}

export interface JournalSummary {
  readonly count: number;
  readonly bytes: number;
  /** enqueued_at of the oldest row (ms since the epoch), undefined when empty. */
  readonly oldestEnqueuedAt: number | undefined;
  /** The most recent failure recorded on a row still owed. */
  readonly lastError: string | undefined;
}

interface RawRow {
  hash: string;
  key_size: number;
  value_size: number;
  version: number;
  enqueued_at: number;
  attempts: number;
  last_error: string | null;
  next_attempt_at: number;
}

const toRow = (r: RawRow): JournalRow => ({
  key: { hash: r.hash, sizeBytes: r.key_size },
  valueSize: r.value_size,
  version: r.version,
  enqueuedAt: r.enqueued_at,
  attempts: r.attempts,
  lastError: r.last_error ?? undefined,
  nextAttemptAt: r.next_attempt_at,
});

export class UploadJournal {
  private readonly selectOne;
  private readonly insertRow;
  private readonly bumpRow;
  private readonly selectDue;
  private readonly selectNextDue;
  private readonly deleteVersion;
  private readonly deleteAny;
  private readonly failRow;
  private readonly selectSummary;
  private readonly selectLastError;
  private readonly retryAll;

  /**
   * `db` commits durably (synchronous=FULL): rows owing an upload. `relaxed`
   * (synchronous=NORMAL, no fsync per commit) for changes whose loss in an OS
   * crash is harmless: a lost removal only repeats an upload, a lost failure
   * count only retries sooner.
   */
  constructor(
    private readonly db: Database.Database,
    relaxed: Database.Database = db,
  ) {
    const where = 'WHERE store_id = ? AND hash = ? AND key_size = ?';
    this.selectOne = db.prepare<[string, string, number], RawRow>(`SELECT * FROM upload_journal ${where}`);
    this.insertRow = db.prepare(
      `INSERT INTO upload_journal (store_id, hash, key_size, value_size, version, enqueued_at, next_attempt_at)
       VALUES (?, ?, ?, ?, 1, ?, ?)`,
    );
    this.bumpRow = db.prepare(
      `UPDATE upload_journal SET value_size = ?, version = version + 1, attempts = 0, last_error = NULL,
       next_attempt_at = ? ${where}`,
    );
    this.selectDue = db.prepare<[string, number, number], RawRow>(
      `SELECT * FROM upload_journal WHERE store_id = ? AND next_attempt_at <= ?
       ORDER BY next_attempt_at, enqueued_at LIMIT ?`,
    );
    this.selectNextDue = db.prepare<[string], { t: number | null }>(
      'SELECT min(next_attempt_at) AS t FROM upload_journal WHERE store_id = ?',
    );
    this.deleteVersion = relaxed.prepare(`DELETE FROM upload_journal ${where} AND version = ?`);
    this.deleteAny = relaxed.prepare(`DELETE FROM upload_journal ${where}`);
    this.failRow = relaxed.prepare(
      `UPDATE upload_journal SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? ${where} AND version = ?`,
    );
    this.selectSummary = db.prepare<[string], { n: number; bytes: number | null; oldest: number | null }>(
      'SELECT count(*) AS n, sum(value_size) AS bytes, min(enqueued_at) AS oldest FROM upload_journal WHERE store_id = ?',
    );
    this.selectLastError = db.prepare<[string], { last_error: string }>(
      `SELECT last_error FROM upload_journal WHERE store_id = ? AND last_error IS NOT NULL
       ORDER BY next_attempt_at DESC LIMIT 1`,
    );
    this.retryAll = relaxed.prepare('UPDATE upload_journal SET next_attempt_at = ? WHERE store_id = ? AND next_attempt_at > ?');
  }

  /**
   * Records that `key` (holding `valueSize` bytes in the fast tier) is owed to
   * the slow tier, due now. Writing a key already owed bumps its version.
   * Returns the new version and the value size the row had before, if any.
   */
  enqueue(storeId: string, key: Digest, valueSize: number, now: number): { version: number; previousSize?: number } {
    return this.enqueueMany(storeId, [{ key, valueSize }], now)[0]!;
  }

  /** enqueue() for several keys in one transaction: one durable commit (one fsync) for all. */
  enqueueMany(
    storeId: string,
    entries: readonly { key: Digest; valueSize: number }[],
    now: number,
  ): { version: number; previousSize?: number }[] {
    return this.db.transaction(() =>
      entries.map(({ key, valueSize }) => {
        const existing = this.selectOne.get(storeId, key.hash, key.sizeBytes);
        if (existing === undefined) {
          this.insertRow.run(storeId, key.hash, key.sizeBytes, valueSize, now, now);
          return { version: 1 };
        }
        this.bumpRow.run(valueSize, now, storeId, key.hash, key.sizeBytes);
        return { version: existing.version + 1, previousSize: existing.value_size };
      }),
    )();
  }

  get(storeId: string, key: Digest): JournalRow | undefined {
    const row = this.selectOne.get(storeId, key.hash, key.sizeBytes);
    return row && toRow(row);
  }

  /** Rows due at `now`, the longest-waiting first. */
  due(storeId: string, now: number, limit: number): JournalRow[] {
    return this.selectDue.all(storeId, now, limit).map(toRow);
  }

  /** When the next row falls due (ms since the epoch), undefined when nothing is owed. */
  nextDueAt(storeId: string): number | undefined {
    return this.selectNextDue.get(storeId)?.t ?? undefined;
  }

  /**
   * Removes the row if it still has `version` (the key was not written again
   * meanwhile). Returns whether it was removed.
   */
  complete(storeId: string, key: Digest, version: number): boolean {
    return this.deleteVersion.run(storeId, key.hash, key.sizeBytes, version).changes > 0;
  }

  /** Removes the row whatever its version. Returns whether there was one. */
  drop(storeId: string, key: Digest): boolean {
    return this.deleteAny.run(storeId, key.hash, key.sizeBytes).changes > 0;
  }

  /** Records a failed attempt and when to try again. */
  fail(storeId: string, key: Digest, version: number, error: string, nextAttemptAt: number): void {
    this.failRow.run(error, nextAttemptAt, storeId, key.hash, key.sizeBytes, version);
  }

  /** Makes every row due at `now` (used when flushing before a stop). */
  makeAllDue(storeId: string, now: number): void {
    this.retryAll.run(now, storeId, now);
  }

  summary(storeId: string): JournalSummary {
    const s = this.selectSummary.get(storeId)!;
    return {
      count: s.n,
      bytes: s.bytes ?? 0,
      oldestEnqueuedAt: s.oldest ?? undefined,
      lastError: this.selectLastError.get(storeId)?.last_error,
    };
  }
}
