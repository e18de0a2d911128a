import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.js';
import { ManualClock } from '../../src/util/clock.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';

const key = (n: number) => ({ hash: n.toString(16).padStart(64, '0'), sizeBytes: n * 10 });

describe('Catalog', () => {
  let dir: string;
  tempDirPerTest('ncache-catalog-', (path) => (dir = path));

  it('creates a WAL database at the latest schema version, in a new state directory', () => {
    const path = join(dir, 'state', 'catalog.sqlite');
    const catalog = Catalog.open(path);
    expect(catalog.schemaVersion()).toBe(SCHEMA_VERSION);
    catalog.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    expect(tables.map((t) => t.name)).toEqual([
      'counters',
      'dedup_blob_chunks',
      'dedup_blobs',
      'dedup_chunks',
      'slow_tier_presence',
      'store_entries',
      'store_index_state',
      'store_inline_values',
      'upload_journal',
    ]);
    db.close();
  });

  it('migrates an existing empty file (user_version 0)', () => {
    const path = join(dir, 'catalog.sqlite');
    new Database(path).close(); // a valid, empty database
    const catalog = Catalog.open(path);
    expect(catalog.schemaVersion()).toBe(SCHEMA_VERSION);
    catalog.journal.enqueue('CAS', key(1), 10, 1000);
    expect(catalog.journal.summary('CAS').count).toBe(1);
    catalog.close();
  });

  it('keeps journal rows across a reopen without close (a crash)', () => {
    const path = join(dir, 'catalog.sqlite');
    const first = Catalog.open(path);
    first.journal.enqueue('CAS', key(1), 100, 1000);
    first.journal.enqueue('CAS', key(2), 200, 1001);
    first.journal.enqueue('AC', key(3), 5, 1002);
    // No close: a second connection sees what the first committed.
    const second = Catalog.open(path);
    expect(second.journal.summary('CAS')).toEqual({ count: 2, bytes: 300, oldestEnqueuedAt: 1000, lastError: undefined });
    expect(second.journal.due('CAS', 2000, 10).map((r) => r.key)).toEqual([key(1), key(2)]);
    second.close();
    first.close();
  });

  it('moves a corrupt file aside and starts empty, saying so', async () => {
    const path = join(dir, 'catalog.sqlite');
    await writeFile(path, Buffer.alloc(8192, 'this is not a sqlite database '));
    const logger = collectingLogger();
    const catalog = Catalog.open(path, { logger, clock: new ManualClock(Date.UTC(2026, 0, 2, 3, 4, 5)) });
    expect(catalog.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(catalog.journal.summary('CAS').count).toBe(0);
    catalog.close();
    const names = await readdir(dir);
    expect(names).toContain('catalog.sqlite.corrupt-2026-01-02T03-04-05-000Z');
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes('could not be read') && l.includes('moved it to'))).toBe(true);
  });

  it('moves aside a database whose pages are damaged', async () => {
    const path = join(dir, 'catalog.sqlite');
    Catalog.open(path).close();
    const db = new Database(path);
    const insert = db.prepare(
      "INSERT INTO upload_journal (store_id, hash, key_size, value_size, enqueued_at, next_attempt_at) VALUES ('CAS', ?, ?, 1, 1, 1)",
    );
    db.transaction(() => {
      for (let i = 1; i <= 2000; i++) insert.run(key(i).hash, key(i).sizeBytes);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    // Overwrite the middle of the file (table pages) with garbage, keeping the header.
    const { open } = await import('node:fs/promises');
    const fh = await open(path, 'r+');
    const { size } = await fh.stat();
    await fh.write(Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(size / 2 / 4096) * 4096);
    await fh.close();
    const logger = collectingLogger();
    const reopened = Catalog.open(path, { logger });
    expect(reopened.journal.summary('CAS').count).toBe(0);
    reopened.close();
    expect((await readdir(dir)).some((n) => n.startsWith('catalog.sqlite.corrupt-'))).toBe(true);
  });

  it('refuses a catalog from a newer ncache instead of discarding it', () => {
    const path = join(dir, 'catalog.sqlite');
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => Catalog.open(path)).toThrow(/newer than this ncache understands/);
  });

  describe('upload journal', () => {
    it('bumps the version when a key is written again, so an older upload cannot clear it', () => {
      const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
      const j = catalog.journal;
      expect(j.enqueue('AC', key(1), 10, 1000)).toEqual({ version: 1 });
      expect(j.enqueue('AC', key(1), 12, 1001)).toEqual({ version: 2, previousSize: 10 });
      expect(j.complete('AC', key(1), 1)).toBe(false);
      expect(j.get('AC', key(1))?.valueSize).toBe(12);
      expect(j.complete('AC', key(1), 2)).toBe(true);
      expect(j.get('AC', key(1))).toBeUndefined();
      catalog.close();
    });

    it('records failures with a next attempt time, and only due rows come back', () => {
      const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
      const j = catalog.journal;
      j.enqueue('CAS', key(1), 10, 1000);
      j.enqueue('CAS', key(2), 20, 1000);
      j.fail('CAS', key(1), 1, 'SlowDown', 5000);
      expect(j.due('CAS', 1000, 10).map((r) => r.key)).toEqual([key(2)]);
      expect(j.nextDueAt('CAS')).toBe(1000);
      const row = j.get('CAS', key(1))!;
      expect(row).toMatchObject({ attempts: 1, lastError: 'SlowDown', nextAttemptAt: 5000 });
      expect(j.summary('CAS').lastError).toBe('SlowDown');
      j.makeAllDue('CAS', 1500);
      expect(j.due('CAS', 1500, 10)).toHaveLength(2);
      catalog.close();
    });
  });

  describe('slow-tier presence', () => {
    it('answers for known keys, honours age and the slow tier fingerprint, and forgets', () => {
      const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
      const p = catalog.presence;
      p.record('CAS', 'tierA', [{ key: key(1), valueSize: 10 }, { key: key(2), valueSize: 20 }], 1000);
      expect(p.lookup('CAS', 'tierA', [key(1), key(2), key(3)], 0)).toEqual([10, 20, undefined]);
      expect(p.lookup('CAS', 'tierA', [key(1)], 1001)).toEqual([undefined]);
      expect(p.lookup('CAS', 'tierB', [key(1)], 0)).toEqual([undefined]);
      expect(p.lookup('AC', 'tierA', [key(1)], 0)).toEqual([undefined]);
      expect(p.forget('CAS', key(1))).toBe(true);
      expect(p.lookup('CAS', 'tierA', [key(1)], 0)).toEqual([undefined]);
      expect(p.forgetOtherTiers('CAS', 'tierB')).toBe(1);
      expect(p.lookup('CAS', 'tierA', [key(2)], 0)).toEqual([undefined]);
      catalog.close();
    });
  });
});
