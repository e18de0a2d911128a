// Disk full (docs/reliability.md "Disk full"): `ncache serve` with the default
// config (templates/local.json5: verify > filesystem CAS, completeness_checking
// > filesystem AC) on an 8 MiB tmpfs, driven over real gRPC. With the disk
// nearly full, then full: uploads that do not fit fail with
// RESOURCE_EXHAUSTED naming the directory and "disk full"; a failed blob is
// never readable nor reported present, and no temp file is left behind;
// blobs written before stay readable; once space returns the same daemon
// (no restart) takes the failed uploads. Run with the state dir (the SQLite
// catalog) beside the disk and on it: a catalog write that fails must leave
// the catalog whole. Values up to 8 KiB live in the catalog, not in files, so
// they are refused only when the catalog's disk is the full one.
import { status } from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { existsSync, readdirSync, truncateSync, unlinkSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { cliTestEnv, shortTempDir } from '../helpers/cli-daemon.js';
import { mixedBytes } from '../helpers/data.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { type ReapiClient, type ServiceError, blobName, createReapiClient } from '../helpers/grpc-client.js';
import { fillDisk, smallDisk } from '../helpers/small-disk.js';
import { localTemplateConfig } from '../helpers/template-configs.js';
import { type Cleanups, cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const DISK_BYTES = 8 * 1024 * 1024;
const KIB = 1024;
const cleanups = cleanupsAfterEach();

interface Upload {
  readonly data: Buffer;
  readonly digest: Digest;
}

const blob = (size: number, seed: number): Upload => {
  const data = mixedBytes(size, seed);
  return { data, digest: digestOf(data) };
};

/** The status of each upload: 0 (OK) or the gRPC code, with its message. */
async function uploadEach(client: ReapiClient, via: 'bytestream' | 'batch', uploads: readonly Upload[]) {
  if (via === 'batch') {
    const res = await client.batchUpdateBlobs({ requests: uploads.map((u) => ({ digest: u.digest, data: u.data })) });
    return res.responses.map((r) => ({ code: r.status?.code ?? 0, message: r.status?.message ?? '' }));
  }
  return Promise.all(
    uploads.map((u) =>
      client.uploadBlob(u.data).then(
        () => ({ code: 0, message: '' }),
        (err: ServiceError) => ({ code: err.code, message: err.details }),
      ),
    ),
  );
}

async function expectReadable(client: ReapiClient, uploads: readonly Upload[]): Promise<void> {
  const missing = await client.findMissingBlobs({ blobDigests: uploads.map((u) => u.digest) });
  expect(missing.missingBlobDigests).toEqual([]);
  for (const u of uploads) expect(digestOf(await client.downloadBlob(u.digest)).hash).toBe(u.digest.hash);
}

async function expectAbsent(client: ReapiClient, uploads: readonly Upload[]): Promise<void> {
  const missing = await client.findMissingBlobs({ blobDigests: uploads.map((u) => u.digest) });
  expect(missing.missingBlobDigests.map((d) => d.hash).sort()).toEqual(uploads.map((u) => u.digest.hash).sort());
  for (const u of uploads) {
    await expect(client.read(blobName('', u.digest))).rejects.toMatchObject({ code: status.NOT_FOUND });
  }
  const batch = await client.batchReadBlobs({ digests: uploads.map((u) => u.digest) });
  expect(batch.responses.map((r) => r.status?.code)).toEqual(uploads.map(() => status.NOT_FOUND));
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const actionResultFor = (outputs: readonly Upload[]) => ({
  outputFiles: outputs.map((u, i) => ({ path: `out/${i}`, digest: u.digest })),
  exitCode: 0,
});

/**
 * A copy of a live catalog (its file and WAL) to open here: SQLite resolves
 * the /proc/<pid>/root link a namespaced daemon's files are reached through
 * to this process's own root, where the file is not.
 */
async function copyCatalog(path: string, cleanups: Cleanups): Promise<string> {
  const dir = await tempDir('ncache-catalog-copy-', cleanups);
  const copy = join(dir, 'catalog.sqlite');
  await copyFile(path, copy);
  if (existsSync(`${path}-wal`)) await copyFile(`${path}-wal`, `${copy}-wal`);
  return copy;
}

async function startOnSmallDisk(stateOnDisk: boolean, cleanups: Cleanups) {
  const dir = await shortTempDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const diskDir = join(dir, 'disk');
  await mkdir(diskDir);
  const disk = await smallDisk(diskDir, DISK_BYTES, process.env.NCACHE_TEST_SMALL_DISK === 'unshare' ? 'unshare' : undefined);
  cleanups.push(() => disk.release());
  await mkdir(join(dir, 'rt'), { mode: 0o700 });
  const configPath = join(dir, 'config.json5');
  await writeFile(configPath, localTemplateConfig());
  const cacheDir = join(diskDir, 'cache');
  const stateDir = stateOnDisk ? join(diskDir, 'state') : join(dir, 'state');
  const env = { ...cliTestEnv(dir), NCACHE_CACHE_DIR: cacheDir, NCACHE_STATE_DIR: stateDir };
  const daemon = await DaemonProcess.start({ configPath, env, launcher: disk.launcher });
  cleanups.push(() => daemon.stop({ timeoutMs: 10_000 }));
  const client = createReapiClient(daemon.address);
  cleanups.push(() => client.close());
  /** A path on the small disk as this process reaches it. */
  const local = (path: string) => disk.local(path, daemon.pid);
  return { disk, daemon, client, cacheDir, stateDir, local };
}

describe.each([
  { where: 'beside the disk', stateOnDisk: false },
  { where: 'on the full disk', stateOnDisk: true },
])('a full filesystem tier, state dir $where', ({ stateOnDisk }) => {
  it('refuses what does not fit with RESOURCE_EXHAUSTED, never serves half a blob, and recovers when space returns', async () => {
    const { daemon, client, cacheDir, stateDir, local } = await startOnSmallDisk(stateOnDisk, cleanups);
    const before = [0, 1, 2, 3].map((i) => blob(300 * KIB, 100 + i));
    const smallBefore = [0, 1, 2].map((i) => blob(2 * KIB, 200 + i));
    expect((await uploadEach(client, 'bytestream', before)).map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect((await uploadEach(client, 'batch', smallBefore)).map((r) => r.code)).toEqual([0, 0, 0]);
    const actionBefore = blob(100, 300).digest;
    await client.updateActionResult({ actionDigest: actionBefore, actionResult: actionResultFor(before) });

    // Nearly full: 600 KiB left, so these fail part-way through their writes.
    const filler = local(join(cacheDir, '..', 'filler'));
    const filled = fillDisk(filler);
    truncateSync(filler, filled - 600 * KIB);
    const tooBig = [blob(1024 * KIB, 400), blob(1536 * KIB, 401)];
    const bigResults = await uploadEach(client, 'bytestream', tooBig);
    const batch = [0, 1, 2].map((i) => blob(300 * KIB, 500 + i));
    const batchResults = await uploadEach(client, 'batch', batch);

    // Full: not a byte left, for the action cache too.
    const filler2 = local(join(cacheDir, '..', 'filler2'));
    fillDisk(filler2);
    const tiny = [blob(1 * KIB, 600)];
    const tinyResults = await uploadEach(client, 'batch', tiny);
    const actionFull = blob(100, 601).digest;
    const acError = await client
      .updateActionResult({ actionDigest: actionFull, actionResult: actionResultFor(smallBefore) })
      .then(() => undefined, (err: ServiceError) => err);

    // The file that did not fit, or (state dir on the disk) the catalog row that did not.
    const catalogFull = `SQLITE_FULL\\): the catalog ${escape(join(stateDir, 'catalog.sqlite'))}`;
    const diskFull = (tmp: string) => new RegExp(`disk full \\((ENOSPC\\) writing to ${escape(join(cacheDir, tmp))}|${catalogFull})`);
    for (const r of bigResults) {
      expect(r.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(r.message).toMatch(diskFull('tmp'));
    }
    // A 1 KiB blob and an action result are kept inline in the catalog, not in files: refused only
    // when the catalog's own disk is the full one.
    if (stateOnDisk) {
      expect(tinyResults[0]).toMatchObject({ code: status.RESOURCE_EXHAUSTED, message: expect.stringMatching(catalogFull) });
      expect(acError).toMatchObject({ code: status.RESOURCE_EXHAUSTED, details: expect.stringMatching(catalogFull) });
    } else {
      expect(tinyResults.map((r) => r.code)).toEqual([0]);
      expect(acError).toBeUndefined();
    }
    // The batch's blobs race for the 600 KiB: each either fits or is refused cleanly.
    for (const r of batchResults.filter((r) => r.code !== 0)) {
      expect(r).toMatchObject({ code: status.RESOURCE_EXHAUSTED, message: expect.stringMatching(diskFull('tmp')) });
    }
    expect(batchResults.some((r) => r.code !== 0)).toBe(true);

    const batchFailed = batch.filter((_, i) => batchResults[i]!.code !== 0);
    const failed = [...tooBig, ...batchFailed, ...(stateOnDisk ? tiny : [])];
    await expectAbsent(client, failed);
    if (stateOnDisk) await expect(client.getActionResult({ actionDigest: actionFull })).rejects.toMatchObject({ code: status.NOT_FOUND });
    // No temp file survives a failed upload, and no content file is named after a failed blob.
    for (const tmp of ['tmp', 'tmp-ac']) expect(readdirSync(local(join(cacheDir, tmp)))).toEqual([]);
    const content = new Set(readdirSync(local(join(cacheDir, 'cas'))));
    for (const u of failed) expect(content.has(digestKey(u.digest))).toBe(false);
    // What was there before is untouched.
    await expectReadable(client, [...before, ...smallBefore, ...batch.filter((_, i) => batchResults[i]!.code === 0)]);
    expect((await client.getActionResult({ actionDigest: actionBefore })).outputFiles).toHaveLength(before.length);

    // Space returns: the same daemon takes everything it refused.
    unlinkSync(filler);
    unlinkSync(filler2);
    expect((await uploadEach(client, 'bytestream', failed)).map((r) => r.code)).toEqual(failed.map(() => 0));
    await client.updateActionResult({ actionDigest: actionFull, actionResult: actionResultFor(smallBefore) });
    await expectReadable(client, [...before, ...smallBefore, ...batch, ...tooBig, ...tiny]);
    expect((await client.getActionResult({ actionDigest: actionFull })).outputFiles).toHaveLength(smallBefore.length);
    expect(daemon.running).toBe(true);

    // The catalog is whole, its index names exactly the files in place, and each inline row has its value.
    const db = new Database(await copyCatalog(local(join(stateDir, 'catalog.sqlite')), cleanups));
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = db
        .prepare<[], { hash: string; key_size: number; inline: number; has_value: number }>(
          `SELECT e.hash, e.key_size, e.inline, v.hash IS NOT NULL AS has_value FROM store_entries e
           LEFT JOIN store_inline_values v USING (store_id, hash, key_size) WHERE e.store_id = 'CAS.verify.backend'`,
        )
        .all();
      const files = readdirSync(local(join(cacheDir, 'cas'))).sort();
      expect(rows.filter((r) => r.inline === 0).map((r) => `${r.hash}-${r.key_size}`).sort()).toEqual(files);
      const inline = rows.filter((r) => r.inline === 1);
      expect(inline.map((r) => r.key_size).sort()).toEqual([...smallBefore, ...tiny].map((u) => u.digest.sizeBytes).sort());
      expect(inline.every((r) => r.has_value === 1)).toBe(true);
    } finally {
      db.close();
    }
  });
});
