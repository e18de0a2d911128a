import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { Catalog } from '../../src/catalog/catalog.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';

const key = (n: number) => ({ hash: n.toString(16).padStart(64, '0'), sizeBytes: n });

describe('StoreEntries.putBatched', () => {
  let dir: string;
  tempDirPerTest('ncache-entries-batch-', (path) => (dir = path));

  it('commits the rows recorded in one turn of the event loop, readable by another connection once resolved', async () => {
    const path = join(dir, 'catalog.sqlite');
    const catalog = Catalog.open(path);
    await Promise.all([1, 2, 3].map((n) => catalog.storeEntries.putBatched('CAS', key(n), n, 1000 + n)));
    await catalog.storeEntries.putBatched('CAS', key(4), 4, 1004);
    const other = new Database(path, { readonly: true });
    expect(other.prepare("SELECT count(*) AS n FROM store_entries WHERE store_id = 'CAS'").get()).toEqual({ n: 4 });
    other.close();
    catalog.close();
  });

  it('commits the rows of one turn in one transaction: one failing row rejects them all and commits none', async () => {
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    let calls = 0;
    const put = catalog.storeEntries.put.bind(catalog.storeEntries);
    vi.spyOn(catalog.storeEntries, 'put').mockImplementation((...args) => {
      // The second row of the batch fails: the first, already written in the transaction, is rolled back.
      if (++calls === 2) throw new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
      put(...args);
    });
    const results = await Promise.allSettled([1, 2, 3].map((n) => catalog.storeEntries.putBatched('CAS', key(n), n, 1)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(catalog.storeEntries.count('CAS')).toBe(0);
    catalog.close();
  });
});
