// Lifetime totals (the `counters` table, schema version 2): numbers that
// outlive a daemon, such as request and hit counts for `ncache stats`. The
// daemon adds what it counted since the last flush, so the table only grows.
// Written on the relaxed connection: an OS crash may lose the last flush, which
// is an undercount of a statistic, not a correctness problem.
import type Database from 'better-sqlite3';

export class LifetimeCounters {
  private readonly upsert;
  private readonly selectPrefix;

  constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(
      'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
    );
    // Range scan on the primary key: names from `prefix` up to the next prefix.
    this.selectPrefix = db.prepare<[string, string], { name: string; value: number }>(
      'SELECT name, value FROM counters WHERE name >= ? AND name < ?',
    );
  }

  /** Adds each delta to its counter (created at 0), in one transaction. */
  add(deltas: Readonly<Record<string, number>>): void {
    const entries = Object.entries(deltas).filter(([, v]) => v !== 0);
    if (entries.length === 0) return;
    this.db.transaction(() => {
      for (const [name, value] of entries) this.upsert.run(name, Math.round(value));
    })();
  }

  /** Every counter whose name starts with `prefix`. */
  read(prefix: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.selectPrefix.iterate(prefix, prefix + '\uffff')) out[row.name] = row.value;
    return out;
  }
}
