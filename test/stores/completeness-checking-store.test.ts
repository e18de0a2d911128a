import { describe, expect, it } from 'vitest';
import { ActionResultCodec, type ActionResult, type MessageInit, TreeCodec } from '../../src/proto/reapi.js';
import { CompletenessCheckingStore } from '../../src/stores/completeness-checking-store.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import { type StoreDriver, hasOne, putBuffer, readBuffer } from '../../src/stores/store.js';
import { type Digest, EMPTY_DIGEST, digestOf } from '../../src/util/digest.js';
import { isNotFound } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';

/** Counts has() calls and keys, to check the checks are batched. */
class CountingStore implements StoreDriver {
  readonly kind = 'counting';
  hasCalls = 0;
  constructor(private readonly inner: StoreDriver) {}
  has(keys: readonly Digest[]) {
    this.hasCalls++;
    return this.inner.has(keys);
  }
  update(key: Digest, source: AsyncIterable<Buffer>, size: number) {
    return this.inner.update(key, source, size);
  }
  getPart(key: Digest, offset: number, length?: number) {
    return this.inner.getPart(key, offset, length);
  }
}

async function setup() {
  const casInner = new MemoryStore();
  const cas = new CountingStore(casInner);
  const ac = new MemoryStore();
  const store = new CompletenessCheckingStore(ac, cas, { logger: silentLogger });
  const putBlob = async (text: string) => {
    const data = Buffer.from(text);
    const d = digestOf(data);
    await putBuffer(casInner, d, data);
    return d;
  };
  const actionKey = digestOf(Buffer.from('action ' + Math.random()));
  const putResult = async (result: MessageInit<ActionResult>) => {
    await putBuffer(store, actionKey, ActionResultCodec.encode(result));
  };
  return { cas, casInner, ac, store, putBlob, putResult, actionKey };
}

describe('CompletenessCheckingStore', () => {
  it('serves a result whose outputs are all in the CAS', async () => {
    const { store, putBlob, putResult, actionKey, cas } = await setup();
    const out = await putBlob('output');
    const stdout = await putBlob('stdout text');
    await putResult({ outputFiles: [{ path: 'a.o', digest: out }], stdoutDigest: stdout, stderrDigest: EMPTY_DIGEST, exitCode: 0 });
    expect(await hasOne(store, actionKey)).toBeGreaterThan(0);
    cas.hasCalls = 0;
    const bytes = await readBuffer(store, actionKey);
    expect(ActionResultCodec.decode(bytes).outputFiles[0]!.path).toBe('a.o');
    expect(cas.hasCalls).toBe(1); // one batched lookup for all direct references
  });

  it('hides a result when an output file is missing', async () => {
    const { store, putResult, actionKey, putBlob } = await setup();
    const present = await putBlob('present');
    const gone = digestOf(Buffer.from('never stored'));
    await putResult({ outputFiles: [{ path: 'ok', digest: present }, { path: 'lost/file.txt', digest: gone }] });
    expect(await hasOne(store, actionKey)).toBeUndefined();
    const err = await store.getPart(actionKey, 0).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNotFound(err)).toBe(true);
    expect(String((err as Error).message)).toContain('lost/file.txt');
  });

  it('hides a result when stdout or stderr is missing', async () => {
    const { store, putResult, actionKey } = await setup();
    await putResult({ stderrDigest: digestOf(Buffer.from('err')) });
    await expect(store.getPart(actionKey, 0)).rejects.toThrow(/stderr/);
  });

  it('checks the Tree blob and every file inside output directories', async () => {
    const { store, putResult, actionKey, putBlob, casInner } = await setup();
    const f1 = await putBlob('file one');
    const f2Data = Buffer.from('file two, evicted later');
    const f2 = digestOf(f2Data);
    await putBuffer(casInner, f2, f2Data);
    const treeBytes = TreeCodec.encode({
      root: { files: [{ name: 'one', digest: f1 }], directories: [{ name: 'sub', digest: digestOf(Buffer.from('x')) }] },
      children: [{ files: [{ name: 'two', digest: f2 }] }],
    });
    const tree = digestOf(treeBytes);
    await putBuffer(casInner, tree, treeBytes);
    await putResult({ outputDirectories: [{ path: 'out/dir', treeDigest: tree }] });
    expect(await hasOne(store, actionKey)).toBeGreaterThan(0);

    await casInner.remove(f2);
    expect(await hasOne(store, actionKey)).toBeUndefined();
    await expect(store.getPart(actionKey, 0)).rejects.toThrow(/file two in output directory out\/dir/);

    await putBuffer(casInner, f2, f2Data);
    await casInner.remove(tree);
    await expect(store.getPart(actionKey, 0)).rejects.toThrow(/output directory out\/dir \(its Tree\)/);
  });

  it('treats the empty blob as present without storing it', async () => {
    const { store, putResult, actionKey } = await setup();
    await putResult({ outputFiles: [{ path: 'empty', digest: EMPTY_DIGEST }], stdoutDigest: EMPTY_DIGEST });
    expect(await hasOne(store, actionKey)).toBeGreaterThan(0);
  });

  it('serves ranges and reports a missing entry as NOT_FOUND', async () => {
    const { store, putResult, actionKey } = await setup();
    await putResult({ exitCode: 3 });
    const whole = await readBuffer(store, actionKey);
    const part = await store.getPart(actionKey, 1, 1);
    const chunks: Buffer[] = [];
    for await (const c of part) chunks.push(c);
    expect(Buffer.concat(chunks)).toEqual(whole.subarray(1, 2));
    const other = digestOf(Buffer.from('no such action'));
    expect(await hasOne(store, other)).toBeUndefined();
    await expect(store.getPart(other, 0)).rejects.toSatisfy(isNotFound);
  });

  it('hides a stored value that is not an ActionResult', async () => {
    const { store, actionKey } = await setup();
    await putBuffer(store, actionKey, Buffer.from([0xff, 0xff, 0xff]));
    expect(await hasOne(store, actionKey)).toBeUndefined();
  });
});
