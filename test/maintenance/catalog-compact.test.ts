// Catalog.compact (used by gc): the file shrinks after many rows are deleted,
// the WAL is folded in, and the catalog keeps working afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('Catalog.compact', () => {
  it('gives back the space of deleted rows and keeps the data that is left', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ncache-compact-'));
    dirs.push(dir);
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    const hash = (i: number) => i.toString(16).padStart(64, '0');
    const rows = Array.from({ length: 5000 }, (_, i) => ({ key: { hash: hash(i), sizeBytes: i }, valueSize: i }));
    catalog.journal.enqueueMany('S', rows, 1);
    for (const row of rows.slice(1)) catalog.journal.drop('S', row.key);
    const { bytesBefore, bytesAfter } = catalog.compact();
    expect(bytesBefore).toBeGreaterThan(0);
    expect(bytesAfter).toBeLessThan(bytesBefore);
    expect(catalog.fileBytes()).toBe(bytesAfter);
    expect(catalog.journal.summary('S').count).toBe(1);
    expect(catalog.journal.get('S', rows[0]!.key)?.valueSize).toBe(0);
    catalog.close();
    const reopened = Catalog.open(join(dir, 'catalog.sqlite'));
    expect(reopened.journal.summary('S').count).toBe(1);
    reopened.close();
  });
});
