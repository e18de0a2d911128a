// verify over real stores: bytes flipped in a real file, a file deleted behind
// the store's back, garbage under an action-cache key, a damaged compressed
// value; --repair restores from the other side of a fast_slow (the copy
// checked on the way) or evicts when there is no good copy.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { runGc } from '../../src/maintenance/gc.js';
import { runVerify } from '../../src/maintenance/verify.js';
import { ActionResultCodec } from '../../src/proto/reapi.js';
import { hasOne, putBuffer, readBuffer } from '../../src/stores/store.js';
import { digestKey, digestOf, formatDigest } from '../../src/util/digest.js';
import { filesystemAt, maintenanceDeps as deps, putBlob, servers, worldsClosedAfterEach } from './harness.js';
import { deterministicBytes, textBlob } from '../helpers/data.js';

const world = worldsClosedAfterEach();

function flipByte(path: string, at: number): void {
  const data = readFileSync(path);
  data[at] = data[at]! ^ 0xff;
  writeFileSync(path, data);
}

describe('verify', () => {
  it('finds a blob whose file was changed on disk and restores it from the slow side with --repair', async () => {
    const w = await world({
      stores: [{ name: 'CAS', fast_slow: { fast: filesystemAt('fast'), slow: { memory: {} } } }],
      servers: servers('CAS'),
    });
    const store = w.stores.get('CAS');
    // A file (larger than what the store keeps inline in its catalog).
    const good = deterministicBytes(12_000, 1);
    const key = await putBlob(store, good);
    const other = await putBlob(store, deterministicBytes(500, 2));
    const file = join(w.dir, 'fast', 'content', digestKey(key));
    flipByte(file, 1234);

    const found = await runVerify(deps(w), {});
    expect(found.ok).toBe(false);
    expect(found.found).toBe(1);
    expect(found.unrepaired).toBe(1);
    expect(found.problems).toEqual([
      expect.objectContaining({ tier: 'CAS.fast_slow.fast', digest: formatDigest(key), problem: 'corrupt', role: 'cas' }),
    ]);
    expect(found.checked.count).toBe(4); // two blobs in each tier
    expect(found.problems[0]!.repair).toBeUndefined();
    expect(readFileSync(file).equals(good)).toBe(false); // reporting changes nothing

    const fixed = await runVerify(deps(w), { repair: true });
    expect(fixed.problems).toEqual([
      expect.objectContaining({ digest: formatDigest(key), repair: 'restored', repairedFrom: 'CAS.fast_slow.slow' }),
    ]);
    expect(fixed.ok).toBe(true);
    expect(readFileSync(file).equals(good)).toBe(true);
    expect((await runVerify(deps(w), {})).found).toBe(0);
    expect(await hasOne(store, other)).toBe(500);
  });

  it.each([
    ['filesystem', filesystemAt('cas')],
    ['memory', { memory: {} }],
  ])('reading every blob of a %s tier does not count as using it: gc still sees them idle', async (_kind, spec) => {
    const w = await world({ stores: [{ name: 'CAS', ...spec }], servers: servers('CAS') });
    await putBlob(w.stores.get('CAS'), deterministicBytes(1000, 11));
    await putBlob(w.stores.get('CAS'), deterministicBytes(1000, 12));
    w.clock.advance(3_600_000);
    expect((await runVerify(deps(w), {})).checked.count).toBe(2);
    const gc = await runGc(deps(w), { olderThanMs: 1_800_000, dryRun: true });
    expect(gc.freed.count).toBe(2);
  });

  it('--tier fast checks only local leaves; --tier slow only remote ones (none here)', async () => {
    const w = await world({ stores: [{ name: 'CAS', ...filesystemAt('cas') }], servers: servers('CAS') });
    await putBlob(w.stores.get('CAS'), deterministicBytes(100, 3));
    expect((await runVerify(deps(w), { tier: 'fast' })).checked.count).toBe(1);
    expect((await runVerify(deps(w), { tier: 'slow' })).tiers).toEqual([]);
  });

  it('evicts a corrupt blob that has no good copy anywhere, so the client uploads it again', async () => {
    const w = await world({ stores: [{ name: 'CAS', ...filesystemAt('cas') }], servers: servers('CAS') });
    const store = w.stores.get('CAS');
    const key = await putBlob(store, deterministicBytes(12_000, 4));
    flipByte(join(w.dir, 'cas', 'content', digestKey(key)), 0);
    const report = await runVerify(deps(w), { repair: true });
    expect(report.problems).toEqual([expect.objectContaining({ digest: formatDigest(key), repair: 'evicted' })]);
    expect(report.ok).toBe(true);
    expect(await hasOne(store, key)).toBeUndefined();
  });

  it('reports a blob whose file vanished as missing', async () => {
    const w = await world({ stores: [{ name: 'CAS', ...filesystemAt('cas') }], servers: servers('CAS') });
    const key = await putBlob(w.stores.get('CAS'), deterministicBytes(12_000, 5));
    unlinkSync(join(w.dir, 'cas', 'content', digestKey(key)));
    const report = await runVerify(deps(w), {});
    expect(report.problems).toEqual([expect.objectContaining({ digest: formatDigest(key), problem: 'missing' })]);
    expect(report.unrepaired).toBe(1);
    // No other copy: --repair drops the index entry, so the blob reads as absent and is uploaded again.
    const fixed = await runVerify(deps(w), { repair: true });
    expect(fixed.problems).toEqual([expect.objectContaining({ problem: 'missing', repair: 'evicted' })]);
    const listed = [];
    for await (const entry of w.stores.get('CAS').entries!()) listed.push(entry.key);
    expect(listed).toEqual([]);
    expect((await runVerify(deps(w), {})).found).toBe(0);
  });

  it('finds a value kept inline in the catalog whose bytes were changed there, and evicts it with --repair', async () => {
    const w = await world({ stores: [{ name: 'CAS', ...filesystemAt('cas') }], servers: servers('CAS') });
    const store = w.stores.get('CAS');
    const key = await putBlob(store, deterministicBytes(700, 6));
    const intact = await putBlob(store, deterministicBytes(800, 7));
    const db = new Database(w.catalog.path);
    const changed = db.prepare('UPDATE store_inline_values SET data = ? WHERE hash = ?').run(deterministicBytes(700, 8), key.hash).changes;
    db.close();
    expect(changed).toBe(1);
    const found = await runVerify(deps(w), {});
    expect(found.problems).toEqual([expect.objectContaining({ digest: formatDigest(key), problem: 'corrupt' })]);
    expect(found.checked.count).toBe(2);
    const fixed = await runVerify(deps(w), { repair: true });
    expect(fixed.problems).toEqual([expect.objectContaining({ digest: formatDigest(key), repair: 'evicted' })]);
    expect(await hasOne(store, key)).toBeUndefined();
    expect(await hasOne(store, intact)).toBe(800);
  });

  it('checks that action cache values decode as ActionResult', async () => {
    const w = await world({
      stores: [
        { name: 'CAS', memory: {} },
        { name: 'AC', memory: {} },
      ],
      servers: servers('CAS', 'AC'),
    });
    const ac = w.stores.get('AC');
    const goodKey = digestOf(Buffer.from('action 1'));
    const badKey = digestOf(Buffer.from('action 2'));
    await putBuffer(ac, goodKey, ActionResultCodec.encode({ exitCode: 0, stdoutRaw: Buffer.from('hi') }));
    // Field 1 with wire type 7: no protobuf decoder accepts it.
    await putBuffer(ac, badKey, Buffer.from([0x0f, 0xff, 0xff, 0xff]));
    const report = await runVerify(deps(w), {});
    expect(report.problems).toEqual([
      expect.objectContaining({ tier: 'AC', role: 'ac', digest: formatDigest(badKey), problem: 'corrupt' }),
    ]);
    expect(report.checked.count).toBe(2);
  });

  it('reads a leaf under compression through the same compression layer', async () => {
    const w = await world({
      stores: [{ name: 'CAS', compression: { compression_algorithm: { lz4: {} }, backend: filesystemAt('cas') } }],
      servers: servers('CAS'),
    });
    const store = w.stores.get('CAS');
    // Compressible, so the file on disk is not the blob's bytes (and still a file: over 8 KiB compressed).
    const text = textBlob(92_000, 1);
    const key = await putBlob(store, text);
    const intact = await putBlob(store, Buffer.from('x'.repeat(10_000)));
    const file = join(w.dir, 'cas', 'content', digestKey(key));
    expect(readFileSync(file).length).toBeLessThan(text.length);
    expect((await runVerify(deps(w), {})).found).toBe(0);

    flipByte(file, readFileSync(file).length - 10);
    const report = await runVerify(deps(w), {});
    expect(report.problems).toEqual([expect.objectContaining({ digest: formatDigest(key), problem: 'corrupt' })]);
    expect((await readBuffer(store, intact)).length).toBe(10_000);
  });
});

