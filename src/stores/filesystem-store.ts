// A store of one file per value under content_path, named "<hash>-<size>".
//
// Writes stream into a uniquely named file in temp_path, are fsynced, then
// renamed into content_path: a crash or a failing upload never leaves a
// half-written value readable. Recency lives in memory (filesystem/blob-index.ts).
//
// With the daemon's catalog (and a store id) the index lives there too: a row
// per file in store_entries, written after the rename and deleted before the
// unlink, access times written back in batches. A restart loads the index
// from the catalog without reading the directory; when the catalog has no
// complete index for this content_path (first run, catalog lost or moved aside
// as corrupt, content_path changed) the directory is scanned once and the
// result recorded. Without a catalog (tools, tests) every start scans, and
// recency is written back to the files' atimes instead.
//
// With a catalog, values up to INLINE_MAX_BYTES are not files: their bytes
// are committed with their row (store_inline_values), which costs a few
// microseconds of SQLite instead of a file's create, write, fsync, close and
// rename on the thread pool. A cold Bazel action uploads three such values
// (Action, Command, ActionResult). The entry's `inline` flag says where a
// value lives; an adopted file stays a file whatever its size.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Catalog } from '../catalog/catalog.js';
import type { StoreEntries } from '../catalog/store-entries.js';
import type { FilesystemSpec } from '../config/types.js';
import { systemClock } from '../util/clock.js';
import { mapConcurrent } from '../util/concurrency.js';
import { type Digest, digestKey, formatDigest, isValidDigest, parseDigestKey } from '../util/digest.js';
import { NcacheError, errorMessage, failedPrecondition, internal, invalidArgument, notFound, unavailable } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import type { StoreContext } from './store-context.js';
import { InlineBlobFile, PooledBlobFile, SyncBlobFile, fillSync } from './filesystem/blob-files.js';
import { type BlobHit, BlobIndex, type IndexedBlob } from './filesystem/blob-index.js';
import { FileChunks, singleChunk, writeStream } from './filesystem/file-io.js';
import { isTempName, probeTempName, uploadTempName } from './filesystem/temp-names.js';
import { catalogWriteError, uploadWriteError } from './filesystem/write-errors.js';
import {
  type BlobFile,
  type ByteStream,
  type LinkableFiles,
  type LocalFiles,
  type QuietReads,
  type StoreDriver,
  type StoreEntry,
  type StrayFile,
  checkRange,
  exactSize,
} from './store.js';
import type { FilesystemStats, IndexSource } from './store-stats.js';

/**
 * Smallest read chunk we use. NativeLink's default is smaller, but every chunk
 * costs a thread-pool round trip and a gRPC message, so small reads cap throughput.
 */
export const MIN_READ_BUFFER_SIZE = 256 * 1024;
const MAX_READ_BUFFER_SIZE = 16 * 1024 * 1024;
/** How often recency is written back to atimes and the age limit is applied. */
const ATIME_FLUSH_INTERVAL_MS = 10_000;
/** Flush early when this many files wait for an atime update. */
const ATIME_FLUSH_BATCH = 10_000;
const SCAN_CONCURRENCY = 64;
const ATIME_FLUSH_CONCURRENCY = 16;
/**
 * Values up to this size are read with synchronous calls on the event loop.
 * From the page cache that takes microseconds, while the async path costs four
 * thread-pool round trips (open, fstat, read, close); a warm Bazel build reads
 * hundreds of small outputs and that overhead dominated its daemon time.
 */
export const SYNC_READ_MAX_BYTES = 1024 * 1024;
/**
 * Uploads up to this size are kept inline in the catalog (see the top of the
 * file). Small enough that the copy into SQLite's pages, on the event loop,
 * stays cheaper than the thread pool's file work it replaces.
 */
export const INLINE_MAX_BYTES = 8 * 1024;

export type FilesystemStoreSpec = Pick<FilesystemSpec, 'content_path' | 'temp_path'> &
  Partial<Omit<FilesystemSpec, 'kind' | 'content_path' | 'temp_path'>>;

export class FilesystemStore implements StoreDriver, LocalFiles {
  readonly kind = 'filesystem';
  readonly contentPath: string;
  readonly tempPath: string;
  private readonly readBufferSize: number;
  private readonly blockSize: number;
  private readonly clock: StoreContext['clock'];
  private readonly logger: Logger;
  private readonly files: BlobIndex;
  /** Per file name: the tail of its queue of renames and unlinks, so they never interleave. */
  private readonly fileOps = new Map<string, Promise<void>>();
  /** Files read or written since the last flush, with the access time to record. */
  private dirtyAtimes = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  private readonly activeWrites = new Set<Promise<unknown>>();
  /** Temp files of writes in progress (gc must leave them alone). */
  private readonly activeTemps = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly catalog: Catalog | undefined;
  /** This store's id in the catalog (catalogStoreId in factory.ts). */
  readonly storeId: string | undefined;
  private source: IndexSource | undefined;
  /** Full reads of content_path since construction (the catalog index exists to avoid them). */
  private contentScans = 0;

  constructor(
    spec: FilesystemStoreSpec,
    ctx: Partial<Pick<StoreContext, 'clock' | 'logger' | 'catalog'>> = {},
    storeId?: string,
  ) {
    this.contentPath = spec.content_path;
    this.tempPath = spec.temp_path;
    this.readBufferSize = Math.min(MAX_READ_BUFFER_SIZE, Math.max(MIN_READ_BUFFER_SIZE, spec.read_buffer_size ?? 0));
    this.blockSize = spec.block_size ?? 4096;
    this.clock = ctx.clock ?? systemClock;
    this.logger = ctx.logger ?? silentLogger;
    // The index needs both: rows are keyed by the store id.
    if (ctx.catalog !== undefined && storeId !== undefined) {
      this.catalog = ctx.catalog;
      this.storeId = storeId;
    }
    this.files = new BlobIndex({
      policy: spec.eviction_policy,
      clock: this.clock,
      onEvict: (blob) => this.deleteEvicted(blob),
    });
  }

  private get what(): string {
    return this.storeId === undefined ? `filesystem store ${this.contentPath}` : `filesystem store ${this.storeId}`;
  }

  /** The catalog's index, unless there is none or it is closed already (a stop in progress). */
  private get index(): StoreEntries | undefined {
    return this.catalog !== undefined && !this.catalog.isClosed ? this.catalog.storeEntries : undefined;
  }

  /** Runs a change to the catalog index; a failure is logged, never fails the blob operation it follows. */
  private recordInIndex(what: string, change: (index: StoreEntries, storeId: string) => void): boolean {
    const err = this.changeIndex(change);
    if (err !== undefined) this.logger.warn(`${this.what}: could not ${what} in the catalog: ${errorMessage(err)}`);
    return err === undefined;
  }

  /** Runs a change to the catalog index; returns what it threw, if anything. */
  private changeIndex(change: (index: StoreEntries, storeId: string) => void): unknown {
    const index = this.index;
    if (index === undefined) return undefined;
    try {
      change(index, this.storeId!);
      return undefined;
    } catch (err) {
      return err ?? new Error('unknown catalog error');
    }
  }

  private contentFile(name: string): string {
    return join(this.contentPath, name);
  }

  /** Bytes a file of this size occupies on disk: what the byte budget counts. */
  private charged(size: number): number {
    return this.blockSize > 0 ? Math.ceil(size / this.blockSize) * this.blockSize : size;
  }

  // -------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    await mkdir(this.contentPath, { recursive: true });
    await mkdir(this.tempPath, { recursive: true });
    await this.removeStaleTemps();
    await this.checkSameFilesystem();
    await this.loadIndex();
    this.started = true;
    this.timer = setInterval(() => {
      this.files.sweep();
      void this.flushAtimes();
    }, ATIME_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.activeWrites]);
    await Promise.allSettled([...this.fileOps.values()]);
    await this.flushAtimes();
    this.started = false;
  }

  /** Temp files from a previous run are uploads that never finished. */
  private async removeStaleTemps(): Promise<void> {
    let removed = 0;
    // With a catalog index the content directory is not read at start (a
    // leftover probe there is reported by strayFiles() for gc instead).
    const dirs = this.catalog === undefined ? [this.tempPath, this.contentPath] : [this.tempPath];
    if (this.catalog !== undefined && resolve(this.tempPath) === resolve(this.contentPath)) dirs.length = 0;
    for (const dir of new Set(dirs)) {
      for (const name of await readdir(dir)) {
        if (!isTempName(name)) continue;
        await rm(join(dir, name), { force: true });
        removed += 1;
      }
    }
    if (removed > 0) this.logger.info(`${this.what}: removed ${removed} unfinished upload(s) from ${this.tempPath}`);
  }

  /** A value is published by rename(), which only works within one filesystem. */
  private async checkSameFilesystem(): Promise<void> {
    const probe = probeTempName();
    const from = join(this.tempPath, probe);
    const to = this.contentFile(probe);
    await (await open(from, 'wx')).close();
    try {
      await rename(from, to);
    } catch (err) {
      await rm(from, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'EXDEV') {
        throw failedPrecondition(
          `filesystem store: temp_path ${this.tempPath} and content_path ${this.contentPath} are on different ` +
            `filesystems; uploads are published by renaming from one to the other, so put them on the same one`,
        );
      }
      throw err;
    }
    await rm(to, { force: true });
  }

  /** Loads the index from the catalog when it holds a complete one for content_path, else scans the directory. */
  private async loadIndex(): Promise<void> {
    const index = this.index;
    if (index === undefined) {
      await this.scan();
      this.source = 'directory';
      return;
    }
    const location = resolve(this.contentPath);
    const state = index.indexState(this.storeId!);
    if (state !== undefined && state.location === location) {
      const t0 = performance.now();
      let count = 0;
      let bytes = 0;
      const unusable: Digest[] = [];
      for (const row of index.rows(this.storeId!)) {
        if (!isValidDigest(row.key)) {
          unusable.push(row.key);
          continue;
        }
        this.files.set(row.key, row.storedSize, this.charged(row.storedSize), row.accessedAt, row.inline);
        count += 1;
        bytes += row.storedSize;
      }
      if (unusable.length > 0) {
        // Only a hand-edited or damaged catalog has these: no upload is ever recorded under such a key.
        this.recordInIndex('drop rows whose digest is not a SHA-256', (rows, id) => unusable.forEach((key) => rows.delete(id, key)));
        this.logger.warn(
          `${this.what}: dropped ${unusable.length} catalog row(s) whose digest is not a SHA-256 and size, e.g. ${JSON.stringify(unusable[0])}`,
        );
      }
      this.source = 'catalog';
      this.logger.info(
        `${this.what}: loaded ${count} blobs, ${bytes} bytes from the catalog in ` +
          `${Math.round(performance.now() - t0)} ms (no directory scan of ${this.contentPath})`,
      );
      return;
    }
    const t0 = performance.now();
    await this.scan();
    const rows = [...this.files.entries()].map((b) => ({ key: b.key, storedSize: b.storedSize, accessedAt: b.lastAccessMs }));
    index.replaceAll(this.storeId!, location, rows, this.clock.now());
    this.source = 'directory';
    const why = state === undefined ? '' : ` (its index was of ${state.location})`;
    const bytes = rows.reduce((sum, r) => sum + r.storedSize, 0);
    this.logger.info(
      `${this.what}: catalog has no index for ${this.contentPath}${why}; rebuilt it from the directory: ` +
        `${rows.length} files, ${bytes} bytes in ${Math.round(performance.now() - t0)} ms`,
    );
  }

  /** Rebuilds the LRU from the files on disk, oldest atime first. */
  private async scan(): Promise<void> {
    this.contentScans += 1;
    const names = await readdir(this.contentPath);
    const found: { key: Digest; size: number; atimeMs: number }[] = [];
    let ignored = 0;
    await mapConcurrent(names, SCAN_CONCURRENCY, async (name) => {
      const key = parseDigestKey(name);
      if (key === undefined) {
        ignored += 1;
        return;
      }
      try {
        const st = await stat(this.contentFile(name));
        if (!st.isFile()) {
          ignored += 1;
          return;
        }
        found.push({ key, size: st.size, atimeMs: st.atimeMs });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    });
    found.sort((a, b) => a.atimeMs - b.atimeMs);
    for (const f of found) {
      this.files.set(f.key, f.size, this.charged(f.size), f.atimeMs);
    }
    if (ignored > 0) {
      // Never delete what we did not write: content_path may have been pointed at the wrong directory.
      this.logger.warn(`${this.what}: ignored ${ignored} entr(y/ies) whose names are not "<sha256>-<size>"`);
    }
    if (this.catalog === undefined) this.logger.info(`${this.what}: loaded ${this.files.count} blobs, ${this.files.bytes} bytes`);
  }

  private assertStarted(): void {
    if (!this.started) throw failedPrecondition(`${this.what}: used before start() or after close()`);
  }

  // -------------------------------------------------------------------------
  // Per-file serialization of renames and unlinks

  /** Runs `op` after every earlier rename/unlink of the same file name has finished. */
  private serialize<T>(name: string, op: () => Promise<T>): Promise<T> {
    const previous = this.fileOps.get(name) ?? Promise.resolve();
    const result = previous.then(op);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.fileOps.set(name, tail);
    void tail.then(() => {
      if (this.fileOps.get(name) === tail) this.fileOps.delete(name);
    });
    return result;
  }

  private deleteEvicted(blob: IndexedBlob): void {
    const name = digestKey(blob.key);
    this.dirtyAtimes.delete(name);
    void this.serialize(name, async () => {
      // A newer upload of the same key may have been renamed into place since: keep it.
      const current = this.files.peek(blob.key);
      if (current !== undefined && current.version !== blob.version) return;
      // The row goes first: a crash between the two leaves a stray file, never a row without a file.
      if (!this.recordInIndex(`forget evicted ${name}`, (index, id) => index.delete(id, blob.key))) return;
      if (blob.inline) return;
      await unlink(this.contentFile(name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.logger.warn(`${this.what}: could not delete evicted ${name}: ${err.message}`);
      });
    });
  }

  // -------------------------------------------------------------------------
  // Recency

  private touched(name: string, ms: number): void {
    this.dirtyAtimes.set(name, ms);
    if (this.dirtyAtimes.size >= ATIME_FLUSH_BATCH) void this.flushAtimes();
  }

  /** Writes recorded access times to the files' atimes, so LRU order survives a restart. */
  async flushAtimes(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.dirtyAtimes.size === 0) return;
    const batch = this.dirtyAtimes;
    this.dirtyAtimes = new Map();
    if (this.catalog !== undefined) {
      // One transaction on the catalog's relaxed connection instead of a utimes per file.
      const accesses = [...batch].flatMap(([name, ms]) => {
        const key = parseDigestKey(name);
        return key === undefined ? [] : [{ key, accessedAt: ms }];
      });
      this.recordInIndex('record access times', (index, id) => index.touch(id, accesses));
      return;
    }
    this.flushing = (async () => {
      await mapConcurrent([...batch], ATIME_FLUSH_CONCURRENCY, async ([name, ms]) => {
        const seconds = ms / 1000;
        // mtime is set too (utimes needs both); nothing relies on it.
        await utimes(this.contentFile(name), seconds, seconds).catch(() => {
          // Evicted or removed meanwhile: nothing to record.
        });
      });
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  // -------------------------------------------------------------------------
  // StoreDriver

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    this.assertStarted();
    return keys.map((key) => {
      const hit = this.files.get(key);
      if (hit === undefined) return undefined;
      this.touched(digestKey(key), hit.lastAccessMs);
      return hit.storedSize;
    });
  }

  async update(key: Digest, source: ByteStream, size: number): Promise<void> {
    this.assertStarted();
    const op = this.write(key, source, size);
    this.activeWrites.add(op);
    try {
      await op;
    } finally {
      this.activeWrites.delete(op);
    }
  }

  private async write(key: Digest, source: ByteStream, size: number): Promise<void> {
    const what = `${this.what}: upload of ${formatDigest(key)}`;
    if (size <= INLINE_MAX_BYTES && this.index !== undefined) {
      return this.writeInline(key, await collect(exactSize(source, size, what), size), what);
    }
    const temp = join(this.tempPath, uploadTempName(key));
    this.activeTemps.add(temp);
    let fh: FileHandle;
    try {
      // Read-only: a local worker hardlinks these files into actions' input trees.
      fh = await open(temp, 'wx', 0o444);
    } catch (err) {
      this.activeTemps.delete(temp);
      throw uploadWriteError(what, this.tempPath, err);
    }
    try {
      try {
        await writeStream(fh, exactSize(source, size, what));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.publish(key, temp, size, what, true);
    } catch (err) {
      await rm(temp, { force: true });
      if (err instanceof NcacheError) throw err;
      throw uploadWriteError(what, this.tempPath, err);
    } finally {
      this.activeTemps.delete(temp);
    }
  }

  /**
   * Commits a small value with its row (inline in the catalog), once the
   * whole value has arrived. A file it replaces (an action result updated,
   * say) is unlinked after the commit; a crash in between leaves that file
   * as a stray for gc.
   */
  private writeInline(key: Digest, data: Buffer, what: string): Promise<void> {
    const name = digestKey(key);
    return this.serialize(name, async () => {
      const index = this.index;
      if (index === undefined) throw unavailable(`${what} failed: the catalog is closed (the daemon is stopping)`);
      const replaced = this.files.peek(key);
      const now = this.clock.now();
      try {
        await index.putBatched(this.storeId!, key, data.length, now, data);
      } catch (err) {
        throw catalogWriteError(what, this.catalog?.path ?? 'catalog.sqlite', err);
      }
      this.files.set(key, data.length, this.charged(data.length), now, true);
      if (replaced === undefined || replaced.inline) return;
      await unlink(this.contentFile(name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.logger.warn(`${this.what}: could not delete ${name}, now kept inline: ${err.message}`);
      });
    });
  }

  /**
   * Renames a complete, synced temp file into content_path and indexes it.
   * `replace` false keeps a value already present (the temp file is deleted).
   */
  private publish(key: Digest, temp: string, size: number, what: string, replace: boolean): Promise<void> {
    const name = digestKey(key);
    return this.serialize(name, async () => {
      const replacing = this.files.peek(key) !== undefined;
      if (replacing && !replace) {
        await rm(temp, { force: true });
        return;
      }
      await rename(temp, this.contentFile(name));
      this.activeTemps.delete(temp);
      const now = this.clock.now();
      // After the rename: a row never names a file that is not in place.
      const index = this.index;
      const unrecorded =
        index === undefined
          ? undefined
          : await index.putBatched(this.storeId!, key, size, now).then(
              () => undefined,
              (err: unknown) => err ?? new Error('unknown catalog error'),
            );
      if (unrecorded !== undefined && !replacing) {
        // A restart would not know this file (the catalog's disk is full, say):
        // refuse the upload now rather than acknowledge a blob that will vanish.
        await unlink(this.contentFile(name)).catch(() => {});
        throw catalogWriteError(what, this.catalog?.path ?? 'catalog.sqlite', unrecorded);
      }
      if (unrecorded !== undefined) {
        this.logger.warn(`${this.what}: could not record ${name} in the catalog: ${errorMessage(unrecorded)}`);
      }
      this.files.set(key, size, this.charged(size), now);
      if (this.catalog === undefined) this.touched(name, now);
    });
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    return this.partOf(await this.openForRead(key, offset, length, false));
  }

  /** Reads that leave recency (and an entry found missing) alone, for verify and gc. */
  quietReads(): QuietReads {
    return {
      peekSize: (key) => {
        this.assertStarted();
        return this.files.peek(key)?.storedSize;
      },
      peekPart: async (key, offset, length) => this.partOf(await this.openForRead(key, offset, length, true)),
    };
  }

  private partOf(opened: OpenForRead): ByteStream {
    // Its own buffer from SQLite: the consumer may keep it.
    if (opened.data !== undefined) return singleChunk(opened.data.subarray(opened.start, opened.end));
    if (opened.fh !== undefined) return new FileChunks(opened.fh, opened.start, opened.end, this.readBufferSize, opened.what);
    // Small values (see SYNC_READ_MAX_BYTES): one buffer, file closed before returning.
    try {
      // Not from the shared pool: the consumer may keep it (ByteStream sends it as it is).
      const data = Buffer.allocUnsafeSlow(opened.end - opened.start);
      fillSync(opened.fd, data, opened.start, opened.what);
      return singleChunk(data);
    } finally {
      closeSync(opened.fd);
    }
  }

  async openBlobFile(key: Digest, offset: number, length?: number): Promise<BlobFile> {
    const opened = await this.openForRead(key, offset, length, false);
    if (opened.data !== undefined) return new InlineBlobFile(opened.data, opened.start, opened.end, opened.what);
    if (opened.fh !== undefined) return new PooledBlobFile(opened.fh, opened.start, opened.end, opened.what);
    return new SyncBlobFile(opened.fd, opened.start, opened.end, opened.what);
  }

  /**
   * The content file of `key` open for the range [offset, offset + length),
   * its recency touched: the bytes of a value kept inline, a descriptor for a
   * small file (read on the event loop), a FileHandle for a large one. The
   * open file is what the reader gets even if the value is replaced or
   * evicted meanwhile. NOT_FOUND when absent (an entry whose file or value
   * is gone is forgotten, unless `quiet`), OUT_OF_RANGE past the end (the
   * file is closed then).
   */
  private async openForRead(key: Digest, offset: number, length: number | undefined, quiet: boolean): Promise<OpenForRead> {
    this.assertStarted();
    const name = digestKey(key);
    const hit = quiet ? this.files.peek(key) : this.files.get(key);
    if (hit === undefined) throw notFound(`${this.what}: ${formatDigest(key)} not found`);
    if (!quiet) this.touched(name, hit.lastAccessMs);
    const forgetIfGone = quiet ? undefined : hit;
    const what = `${this.what}: read of ${formatDigest(key)}`;
    if (hit.inline) {
      const data = this.inlineValue(name, key, forgetIfGone);
      return { data, fd: -1, fh: undefined, what, ...checkRange(what, data.length, offset, length) };
    }
    if (hit.storedSize <= SYNC_READ_MAX_BYTES) {
      const fd = this.openSmall(name, key, forgetIfGone);
      try {
        return { data: undefined, fd, fh: undefined, what, ...checkRange(what, fstatSync(fd).size, offset, length) };
      } catch (err) {
        closeSync(fd);
        throw err;
      }
    }
    const fh = await this.openLarge(name, key, forgetIfGone);
    try {
      return { data: undefined, fd: -1, fh, what, ...checkRange(what, (await fh.stat()).size, offset, length) };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** A value kept inline, from the catalog; one whose row is gone (removed meanwhile) is forgotten and NOT_FOUND. */
  private inlineValue(name: string, key: Digest, forgetIfGone: BlobHit | undefined): Buffer {
    const index = this.index;
    if (index === undefined) throw unavailable(`${this.what}: cannot read ${formatDigest(key)}: the catalog is closed (the daemon is stopping)`);
    let data: Buffer | undefined;
    try {
      data = index.inlineValue(this.storeId!, key);
    } catch (err) {
      throw internal(`${this.what}: cannot read ${formatDigest(key)} from the catalog: ${errorMessage(err)}`, err);
    }
    if (data !== undefined) return data;
    if (forgetIfGone !== undefined) this.dropMissing(name, key, forgetIfGone);
    throw notFound(`${this.what}: ${formatDigest(key)} not found`);
  }

  /** Opens a small value's file on the event loop; a file gone behind our back is NOT_FOUND (and forgotten). */
  private openSmall(name: string, key: Digest, forgetIfGone: BlobHit | undefined): number {
    try {
      return openSync(this.contentFile(name), 'r');
    } catch (err) {
      throw this.openError(name, key, forgetIfGone, err);
    }
  }

  /** Opens a large value's file through the thread pool; as openSmall otherwise. */
  private async openLarge(name: string, key: Digest, forgetIfGone: BlobHit | undefined): Promise<FileHandle> {
    try {
      return await open(this.contentFile(name), 'r');
    } catch (err) {
      throw this.openError(name, key, forgetIfGone, err);
    }
  }

  private openError(name: string, key: Digest, forgetIfGone: BlobHit | undefined, err: unknown): Error {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // Evicted between the lookup and the open, or deleted behind our back.
      if (forgetIfGone !== undefined) this.dropMissing(name, key, forgetIfGone);
      return notFound(`${this.what}: ${formatDigest(key)} not found`);
    }
    return internal(`${this.what}: cannot open ${formatDigest(key)}: ${errorMessage(err)}`, err);
  }

  /** A file the index lists is gone (deleted behind our back): forget it, unless a newer value replaced it meanwhile. */
  private dropMissing(name: string, key: Digest, seen: BlobHit): void {
    if (this.files.peek(key)?.version !== seen.version) return;
    this.files.delete(key);
    this.dirtyAtimes.delete(name);
    this.recordInIndex(`forget missing ${name}`, (index, id) => index.delete(id, key));
    const where = seen.inline ? 'its value is gone from the catalog' : 'its file is gone';
    this.logger.warn(`${this.what}: ${name} is in the index but ${where}; dropped it from the index`);
  }

  async remove(key: Digest): Promise<boolean> {
    this.assertStarted();
    const name = digestKey(key);
    return this.serialize(name, async () => this.forget(name, key));
  }

  /** Drops an entry and deletes its file; call inside serialize(name). */
  private async forget(name: string, key: Digest): Promise<boolean> {
    const entry = this.files.peek(key);
    if (entry === undefined) return false;
    // Row before file (see deleteEvicted); if the catalog refuses, nothing changes.
    this.index?.delete(this.storeId!, key);
    this.files.delete(key);
    this.dirtyAtimes.delete(name);
    if (entry.inline) return true;
    await unlink(this.contentFile(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return true;
  }

  async *entries(): AsyncIterable<StoreEntry> {
    for (const blob of this.files.entries()) {
      yield {
        key: blob.key,
        size: blob.storedSize,
        storedSize: blob.chargedSize,
        lastAccessMs: blob.lastAccessMs,
        ...(blob.inline ? { inline: true } : {}),
      };
    }
  }

  /** gc and verify work on the files themselves. */
  localFiles(): LocalFiles {
    return this;
  }

  /** The local worker links inputs from these files and hands outputs over by rename. */
  linkableFiles(): LinkableFiles {
    return {
      contentPath: this.contentPath,
      pathOf: async (key) => {
        this.assertStarted();
        const name = digestKey(key);
        const hit = this.files.get(key);
        if (hit === undefined || hit.inline) return undefined;
        this.touched(name, hit.lastAccessMs);
        return this.contentFile(name);
      },
      adopt: (key, path) => this.adopt(key, path),
      evictModified: (key, ino) => {
        this.assertStarted();
        const name = digestKey(key);
        return this.serialize(name, async () => {
          const st = await stat(this.contentFile(name)).catch(() => undefined);
          if (st === undefined || st.ino !== ino) return false;
          this.logger.warn(`${this.what}: ${formatDigest(key)} was modified in place (through a hardlink an action was given); evicted it`);
          return this.forget(name, key);
        });
      },
    };
  }

  /** Takes a finished file (hashed by the caller) as a value: moved into temp_path, synced, published. */
  private async adopt(key: Digest, path: string): Promise<void> {
    this.assertStarted();
    const what = `${this.what}: adoption of ${formatDigest(key)} from ${path}`;
    const temp = join(this.tempPath, uploadTempName(key));
    this.activeTemps.add(temp);
    try {
      await rename(path, temp);
      const fh = await open(temp, 'r');
      try {
        const { size } = await fh.stat();
        if (size !== key.sizeBytes) throw invalidArgument(`${what}: the file has ${size} bytes, the digest says ${key.sizeBytes}`);
        await fh.chmod(0o444);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.publish(key, temp, key.sizeBytes, what, false);
    } catch (err) {
      await rm(temp, { force: true });
      if (err instanceof NcacheError) throw err;
      throw uploadWriteError(what, this.tempPath, err);
    } finally {
      this.activeTemps.delete(temp);
    }
  }

  /** Temp files of writes in progress: gc must not delete these. */
  activeTempFiles(): ReadonlySet<string> {
    return new Set(this.activeTemps);
  }

  /**
   * Files the index does not account for: temp files of no write in progress
   * (left by a crash) and "<hash>-<size>" files in content_path without an
   * index entry (a crash between rename and row, or a lost catalog row) or
   * whose entry is kept inline (a crash before the file it replaced went).
   * Names ncache did not write are never reported. Each file is checked
   * again just before it is yielded, so a write that commits meanwhile is
   * not reported.
   */
  async *strayFiles(): AsyncIterable<StrayFile> {
    this.assertStarted();
    const dirs = resolve(this.tempPath) === resolve(this.contentPath) ? [this.contentPath] : [this.tempPath, this.contentPath];
    for (const dir of dirs) {
      const isContent = dir === this.contentPath;
      if (isContent) this.contentScans += 1;
      for (const name of await readdir(dir)) {
        const path = join(dir, name);
        let kind: StrayFile['kind'];
        if (isTempName(name)) kind = 'temp';
        else if (isContent && parseDigestKey(name) !== undefined) kind = 'unindexed';
        else continue;
        const st = await stat(path).catch(() => undefined);
        if (st === undefined || !st.isFile()) continue;
        if (kind === 'temp' ? this.activeTemps.has(path) : this.isIndexed(name)) continue;
        yield { path, size: st.size, kind };
      }
    }
  }

  /**
   * Deletes a file strayFiles() reported, unless it stopped being a stray
   * meanwhile: a content file is checked and unlinked in the same per-name
   * queue as uploads' renames, so an upload of that key committing at the
   * same moment is never deleted. Returns whether the file was removed.
   */
  async removeStray(stray: Pick<StrayFile, 'path' | 'kind'>): Promise<boolean> {
    this.assertStarted();
    const name = basename(stray.path);
    const dir = resolve(dirname(stray.path));
    const ours = dir === resolve(this.contentPath) || (stray.kind === 'temp' && dir === resolve(this.tempPath));
    const key = parseDigestKey(name);
    if (!ours || (stray.kind === 'temp' ? !isTempName(name) : key === undefined)) {
      throw invalidArgument(`${this.what}: ${stray.path} is not a ${stray.kind} file of this store`);
    }
    const removeFile = async () => {
      try {
        await unlink(stray.path);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
    };
    if (stray.kind === 'temp') return this.activeTemps.has(stray.path) ? false : removeFile();
    // A file whose key is kept inline is a leftover of the value it replaced.
    return this.serialize(name, async () => (this.files.peek(key!)?.inline === false ? false : removeFile()));
  }

  /** In the index as a file, or a rename/unlink of it is in progress. Does not touch recency. */
  private isIndexed(name: string): boolean {
    // (peek() evicts an entry past max_seconds: it was about to be deleted anyway.)
    if (this.fileOps.has(name)) return true;
    const key = parseDigestKey(name);
    return key !== undefined && this.files.peek(key)?.inline === false;
  }

  stats(): FilesystemStats {
    return {
      kind: this.kind,
      bytes: this.files.bytes,
      count: this.files.count,
      maxBytes: this.files.maxBytes,
      evictions: this.files.evictions,
      contentPath: this.contentPath,
      indexSource: this.source,
      contentScans: this.contentScans,
    };
  }
}

/** An open content file and the range to read from it (FilesystemStore.openForRead). */
type OpenForRead = { readonly what: string; readonly start: number; readonly end: number } & (
  | { readonly data: Buffer; readonly fd: -1; readonly fh: undefined }
  | { readonly data: undefined; readonly fd: number; readonly fh: undefined }
  | { readonly data: undefined; readonly fd: -1; readonly fh: FileHandle }
);

/** The whole of a small upload, which `exactSize` has checked is `size` bytes. */
async function collect(source: ByteStream, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
