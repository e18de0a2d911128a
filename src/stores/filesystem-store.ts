// A store of one file per value under content_path, named "<hash>-<size>".
//
// Writes stream into a uniquely named file in temp_path, are fsynced, then
// renamed into content_path: a crash or a failing upload never leaves a
// half-written value readable. Recency lives in memory (an LRU map) and in
// each file's atime, written back in batches, so a restart rebuilds both the
// content and its LRU order from a directory scan.
import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { FilesystemSpec } from '../config/types.js';
import { systemClock } from '../util/clock.js';
import { mapConcurrent } from '../util/concurrency.js';
import { type Digest, digestKey, formatDigest, parseDigestKey } from '../util/digest.js';
import { NcacheError, errorMessage, failedPrecondition, internal, notFound } from '../util/errors.js';
import { EvictingMap, type EvictionEntry } from '../util/eviction.js';
import { type Logger, silentLogger } from '../util/logger.js';
import type { StoreContext } from './store-context.js';
import { type ByteStream, type StoreDriver, type StoreEntry, type StoreStats, checkRange, exactSize } from './store.js';

/**
 * Smallest read chunk we use. NativeLink's default is smaller, but every chunk
 * costs a thread-pool round trip and a gRPC message, so small reads cap throughput.
 */
export const MIN_READ_BUFFER_SIZE = 256 * 1024;
const MAX_READ_BUFFER_SIZE = 16 * 1024 * 1024;
/** Incoming chunks (Bazel sends 16 KiB) are gathered into one writev of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024;
const WRITE_BATCH_BUFFERS = 256;
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
const TEMP_SUFFIX = '.ncache-tmp';

export type FilesystemStoreSpec = Pick<FilesystemSpec, 'content_path' | 'temp_path'> &
  Partial<Omit<FilesystemSpec, 'kind' | 'content_path' | 'temp_path'>>;

interface FileValue {
  readonly key: Digest;
  /** Bytes in the file (what has() reports). */
  readonly size: number;
}

export class FilesystemStore implements StoreDriver {
  readonly kind = 'filesystem';
  readonly contentPath: string;
  readonly tempPath: string;
  private readonly readBufferSize: number;
  private readonly blockSize: number;
  private readonly clock: StoreContext['clock'];
  private readonly logger: Logger;
  private readonly files: EvictingMap<FileValue>;
  /** Per file name: the tail of its queue of renames and unlinks, so they never interleave. */
  private readonly fileOps = new Map<string, Promise<void>>();
  /** Files read or written since the last flush, with the access time to record. */
  private dirtyAtimes = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  private readonly activeWrites = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(spec: FilesystemStoreSpec, ctx: Partial<Pick<StoreContext, 'clock' | 'logger'>> = {}) {
    this.contentPath = spec.content_path;
    this.tempPath = spec.temp_path;
    this.readBufferSize = Math.min(MAX_READ_BUFFER_SIZE, Math.max(MIN_READ_BUFFER_SIZE, spec.read_buffer_size ?? 0));
    this.blockSize = spec.block_size ?? 4096;
    this.clock = ctx.clock ?? systemClock;
    this.logger = ctx.logger ?? silentLogger;
    this.files = new EvictingMap<FileValue>({
      policy: spec.eviction_policy,
      clock: this.clock,
      onEvict: (entry) => this.deleteEvicted(entry),
    });
  }

  private get what(): string {
    return `filesystem store ${this.contentPath}`;
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
    await this.scan();
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
    for (const dir of new Set([this.tempPath, this.contentPath])) {
      for (const name of await readdir(dir)) {
        if (!name.endsWith(TEMP_SUFFIX)) continue;
        await rm(join(dir, name), { force: true });
        removed += 1;
      }
    }
    if (removed > 0) this.logger.info(`${this.what}: removed ${removed} unfinished upload(s) from ${this.tempPath}`);
  }

  /** A value is published by rename(), which only works within one filesystem. */
  private async checkSameFilesystem(): Promise<void> {
    const probe = `probe-${randomUUID()}${TEMP_SUFFIX}`;
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

  /** Rebuilds the LRU from the files on disk, oldest atime first. */
  private async scan(): Promise<void> {
    const names = await readdir(this.contentPath);
    const found: { name: string; key: Digest; size: number; atimeMs: number }[] = [];
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
        found.push({ name, key, size: st.size, atimeMs: st.atimeMs });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    });
    found.sort((a, b) => a.atimeMs - b.atimeMs);
    for (const f of found) {
      this.files.set(f.name, { key: f.key, size: f.size }, this.charged(f.size), f.atimeMs);
    }
    if (ignored > 0) {
      // Never delete what we did not write: content_path may have been pointed at the wrong directory.
      this.logger.warn(`${this.what}: ignored ${ignored} entr(y/ies) whose names are not "<sha256>-<size>"`);
    }
    this.logger.info(`${this.what}: loaded ${this.files.count} blobs, ${this.files.bytes} bytes`);
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

  private deleteEvicted(entry: EvictionEntry<FileValue>): void {
    const name = entry.key;
    this.dirtyAtimes.delete(name);
    void this.serialize(name, async () => {
      // A newer upload of the same key may have been renamed into place since: keep it.
      const current = this.files.peek(name);
      if (current !== undefined && current.value !== entry.value) return;
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
      const name = digestKey(key);
      const entry = this.files.get(name);
      if (entry === undefined) return undefined;
      this.touched(name, entry.lastAccessMs);
      return entry.value.size;
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
    const name = digestKey(key);
    const what = `${this.what}: upload of ${formatDigest(key)}`;
    const temp = join(this.tempPath, `${name}.${randomUUID()}${TEMP_SUFFIX}`);
    const fh = await open(temp, 'wx');
    try {
      try {
        await writeStream(fh, exactSize(source, size, what));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.serialize(name, async () => {
        await rename(temp, this.contentFile(name));
        const now = this.clock.now();
        this.files.set(name, { key, size }, this.charged(size), now);
        this.touched(name, now);
      });
    } catch (err) {
      await rm(temp, { force: true });
      if (err instanceof NcacheError) throw err;
      throw internal(`${what} failed: ${errorMessage(err)}`, err);
    }
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    this.assertStarted();
    const name = digestKey(key);
    const entry = this.files.get(name);
    if (entry === undefined) throw notFound(`${this.what}: ${formatDigest(key)} not found`);
    this.touched(name, entry.lastAccessMs);
    if (entry.value.size <= SYNC_READ_MAX_BYTES) return this.readSmall(name, key, entry.value, offset, length);
    let fh: FileHandle;
    try {
      fh = await open(this.contentFile(name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Evicted between the lookup and the open, or deleted behind our back.
        if (this.files.peek(name)?.value === entry.value) this.files.delete(name);
        throw notFound(`${this.what}: ${formatDigest(key)} not found`);
      }
      throw internal(`${this.what}: cannot open ${formatDigest(key)}: ${errorMessage(err)}`, err);
    }
    try {
      // The open file is what we serve, even if it is replaced or evicted meanwhile.
      const { size } = await fh.stat();
      const { start, end } = checkRange(`${this.what}: read of ${formatDigest(key)}`, size, offset, length);
      return new FileChunks(fh, start, end, this.readBufferSize, `${this.what}: read of ${formatDigest(key)}`);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** The synchronous path for small values (see SYNC_READ_MAX_BYTES): one buffer, file closed before returning. */
  private readSmall(name: string, key: Digest, value: FileValue, offset: number, length: number | undefined): ByteStream {
    const what = `${this.what}: read of ${formatDigest(key)}`;
    let fd: number;
    try {
      fd = openSync(this.contentFile(name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Evicted between the lookup and the open, or deleted behind our back.
        if (this.files.peek(name)?.value === value) this.files.delete(name);
        throw notFound(`${this.what}: ${formatDigest(key)} not found`);
      }
      throw internal(`${this.what}: cannot open ${formatDigest(key)}: ${errorMessage(err)}`, err);
    }
    try {
      const { start, end } = checkRange(what, fstatSync(fd).size, offset, length);
      const data = Buffer.allocUnsafe(end - start);
      let filled = 0;
      while (filled < data.length) {
        const n = readSync(fd, data, filled, data.length - filled, start + filled);
        if (n === 0) throw internal(`${what}: the file ended ${data.length - filled} bytes early`);
        filled += n;
      }
      return singleChunk(data);
    } finally {
      closeSync(fd);
    }
  }

  async remove(key: Digest): Promise<boolean> {
    this.assertStarted();
    const name = digestKey(key);
    return this.serialize(name, async () => {
      const entry = this.files.delete(name);
      this.dirtyAtimes.delete(name);
      if (entry === undefined) return false;
      await unlink(this.contentFile(name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      return true;
    });
  }

  async *entries(): AsyncIterable<StoreEntry> {
    for (const entry of [...this.files.entries()]) {
      yield { key: entry.value.key, size: entry.value.size, storedSize: entry.size, lastAccessMs: entry.lastAccessMs };
    }
  }

  stats(): StoreStats {
    return {
      kind: this.kind,
      bytes: this.files.bytes,
      count: this.files.count,
      maxBytes: this.files.maxBytes,
      evictions: this.files.evictions,
      contentPath: this.contentPath,
    };
  }
}

async function* singleChunk(data: Buffer): ByteStream {
  if (data.length > 0) yield data;
}

/** Streams `source` into `fh`, gathering small chunks into large writes and overlapping each write with the next read. */
async function writeStream(fh: FileHandle, source: ByteStream): Promise<void> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inflight: Promise<void> | undefined;
  try {
    for await (const chunk of source) {
      if (chunk.length === 0) continue;
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= WRITE_BATCH_BYTES || batch.length >= WRITE_BATCH_BUFFERS) {
        if (inflight) await inflight;
        inflight = writeAll(fh, batch, batchBytes);
        // Observed at the next await; this only keeps it from counting as unhandled meanwhile.
        inflight.catch(() => {});
        batch = [];
        batchBytes = 0;
      }
    }
    if (inflight) await inflight;
    inflight = undefined;
    if (batchBytes > 0) await writeAll(fh, batch, batchBytes);
  } finally {
    // Never close the file under a write still in progress.
    if (inflight) await inflight.catch(() => {});
  }
}

async function writeAll(fh: FileHandle, buffers: Buffer[], total: number): Promise<void> {
  const { bytesWritten } = await fh.writev(buffers);
  if (bytesWritten === total) return;
  // Short writes are rare on regular files (a signal, a full disk): finish the rest the plain way.
  let rest = Buffer.concat(buffers, total).subarray(bytesWritten);
  while (rest.length > 0) {
    const { bytesWritten: n } = await fh.write(rest);
    if (n === 0) throw internal('write made no progress');
    rest = rest.subarray(n);
  }
}

/**
 * The bytes [start, end) of an open file as an async iterator, reading one
 * chunk ahead. The file is closed at the end, on error, and on return() even
 * when iteration never started (a plain async generator would leak it then).
 */
class FileChunks implements AsyncIterableIterator<Buffer> {
  private pos: number;
  private ahead: Promise<Buffer> | undefined;
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly end: number,
    private readonly chunkSize: number,
    private readonly what: string,
  ) {
    this.pos = start;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    if (this.closed) return { value: undefined, done: true };
    const pending = this.ahead ?? (this.pos < this.end ? this.readNext() : undefined);
    this.ahead = undefined;
    if (pending === undefined) {
      await this.close();
      return { value: undefined, done: true };
    }
    let chunk: Buffer;
    try {
      chunk = await pending;
    } catch (err) {
      await this.close();
      throw err;
    }
    if (this.pos < this.end) {
      this.ahead = this.readNext();
      this.ahead.catch(() => {});
    }
    return { value: chunk, done: false };
  }

  async return(): Promise<IteratorResult<Buffer>> {
    await this.close();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<Buffer>> {
    await this.close();
    throw err;
  }

  private readNext(): Promise<Buffer> {
    const position = this.pos;
    const n = Math.min(this.chunkSize, this.end - position);
    this.pos += n;
    return this.readAt(position, n);
  }

  private async readAt(position: number, n: number): Promise<Buffer> {
    // Not from the shared pool: the consumer may keep the chunk.
    const buf = Buffer.allocUnsafeSlow(n);
    let filled = 0;
    while (filled < n) {
      const { bytesRead } = await this.fh.read(buf, filled, n - filled, position + filled);
      if (bytesRead === 0) throw internal(`${this.what}: the file ended ${n - filled} bytes early`);
      filled += bytesRead;
    }
    return buf;
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead) await ahead.catch(() => {});
    await this.fh.close().catch(() => {});
  }
}
