// The store driver interface every store implements, plus the helpers every
// store gets for free. Drivers stream: a blob is never held whole in memory on
// the way through (the memory store itself excepted).
import { Readable } from 'node:stream';
import type { Digest } from '../util/digest.js';
import { isNotFound, invalidArgument, outOfRange } from '../util/errors.js';
import type { StoreStats } from './store-stats.js';

/** Bytes flowing into or out of a store. Chunks are Buffers of any size. */
export type ByteStream = AsyncIterable<Buffer>;

/** One entry as listed by a store that can enumerate itself (for ls, gc, verify). */
export interface StoreEntry {
  readonly key: Digest;
  /** Bytes of the value as the layers above see it. */
  readonly size: number;
  /** Bytes it occupies in this store (after compression, for example). */
  readonly storedSize?: number;
  /** Last access, ms since the epoch. */
  readonly lastAccessMs?: number;
  /** Chunks the value is stored as, for a store that splits values (dedup, when its catalog knows). */
  readonly chunkCount?: number;
  /** A filesystem store keeps this value inline in the catalog: there is no file to look at. */
  readonly inline?: true;
}

/** A file in a store's directories that its index does not account for (for gc). */
export interface StrayFile {
  readonly path: string;
  readonly size: number;
  /**
   * 'temp': an upload that is not in progress; 'unindexed': a "<hash>-<size>"
   * content file without an index entry, or whose entry is kept inline in the
   * catalog (a leftover of the file that value replaced).
   */
  readonly kind: 'temp' | 'unindexed';
}

/**
 * A store that keeps values in files of their own, "<hash>-<size>" under
 * contentPath, written through temp files in tempPath (filesystem; small
 * values may live in its catalog instead): gc checks those files and
 * removes strays; gc and verify spare the uploads in progress (temp files).
 */
export interface LocalFiles {
  readonly contentPath: string;
  readonly tempPath: string;
  /** Temp files (paths) of writes in progress: gc must not delete these. */
  activeTempFiles(): ReadonlySet<string>;
  /** Files the index does not account for. */
  strayFiles(): AsyncIterable<StrayFile>;
  /** Deletes a reported stray unless an upload made it a real entry meanwhile; true if removed. */
  removeStray(stray: Pick<StrayFile, 'path' | 'kind'>): Promise<boolean>;
}

/**
 * Values kept as plain files whose bytes are the value itself (filesystem),
 * for the local worker: it hardlinks inputs from them and hands outputs over
 * by rename instead of copying bytes through memory.
 */
export interface LinkableFiles {
  /** The directory the files live in: a hardlink works only from the same filesystem. */
  readonly contentPath: string;
  /**
   * The file holding `key`'s bytes, brought into this tier first when a
   * slower one holds it; undefined when no tier does, or when this tier keeps
   * the value inline in its catalog (no file: the caller copies the bytes). The file is shared:
   * never write, chmod or utime it. It may be evicted (unlinked) at any time.
   */
  pathOf(key: Digest): Promise<string | undefined>;
  /**
   * Takes the complete file at `path` (same filesystem) as the value of
   * `key`, whose bytes the caller has hashed: renamed into place, not
   * copied. The file is gone from `path` afterwards, stored or not.
   */
  adopt(key: Digest, path: string): Promise<void>;
  /**
   * Removes `key` from this tier only (never from a shared slower one) when
   * its file is still inode `ino`: the file was modified behind the store's
   * back. Resolves true if something was removed.
   */
  evictModified(key: Digest, ino: number): Promise<boolean>;
}

/** Sizes and reads that do not count as use (memory): a verify reading everything must not reorder the LRU. */
export interface QuietReads {
  peekSize(key: Digest): number | undefined;
  peekPart(key: Digest, offset: number, length?: number): Promise<ByteStream>;
}

/** A value's bytes [start, end) in an open file (StoreDriver.openBlobFile). */
export interface BlobFile {
  readonly start: number;
  readonly end: number;
  /** Fills `buf` from `position` (the file must hold that many bytes there: a short file is INTERNAL). */
  read(buf: Buffer, position: number): Promise<void>;
  /** Releases the file; once, and only after the last read has settled. */
  close(): Promise<void>;
}

export interface StoreDriver {
  /** The config kind, e.g. "filesystem"; used in logs and error messages. */
  readonly kind: string;

  /**
   * For each key, the size of the stored value, or undefined when absent.
   * Answers for all keys at once so remote stores can batch. Never throws NOT_FOUND.
   */
  has(keys: readonly Digest[]): Promise<(number | undefined)[]>;

  /**
   * Stores exactly `size` bytes read from `source` under `key`. Atomic: if the
   * source fails, ends early or runs long, nothing is committed and the error
   * is rethrown. A value already present is replaced (AC) or kept (CAS, same bytes).
   */
  update(key: Digest, source: ByteStream, size: number): Promise<void>;

  /**
   * Resolves once the value is known to exist, to a stream of bytes
   * [offset, offset + length) (length undefined: to the end). Rejects with
   * NOT_FOUND when absent, OUT_OF_RANGE when offset is past the end. A stream
   * that is abandoned (break / return()) releases what it holds.
   */
  getPart(key: Digest, offset: number, length?: number): Promise<ByteStream>;

  /**
   * The whole value and its size from one request, for a remote store whose
   * read tells the size (or whose key does): fast_slow's fill uses it instead
   * of has() followed by getPart(), one round trip instead of two. Same
   * answers as getPart(key, 0): NOT_FOUND when absent.
   */
  getWithSize?(key: Digest): Promise<{ size: number; stream: ByteStream }>;

  /**
   * The bytes [offset, offset + length) as an open file the caller reads
   * into buffers of its own: ByteStream Read reuses its buffers once HTTP/2
   * has sent them, instead of a fresh buffer per chunk (page faults, and
   * garbage that starts V8's full collections). Undefined when this store
   * cannot hand out a file for the key without more work (a fast_slow miss
   * that needs a fill, a store that transforms its bytes): then getPart.
   * Otherwise as getPart: NOT_FOUND when absent, OUT_OF_RANGE past the end,
   * the same recency. The caller closes the file.
   */
  openBlobFile?(key: Digest, offset: number, length?: number): Promise<BlobFile | undefined>;

  /** Removes a value; resolves true if something was removed. */
  remove?(key: Digest): Promise<boolean>;

  /** Lists what the store holds (stores that can enumerate themselves). */
  entries?(): AsyncIterable<StoreEntry>;

  /** Numbers for stats/status (store-stats.ts: one type per kind). */
  stats?(): StoreStats;

  /** Inner stores, so callers can walk the tree (stats, start, close). */
  children?(): readonly StoreDriver[];

  /** Loads persistent state (filesystem scan, for example). Called once before use. */
  start?(): Promise<void>;

  /** Finishes in-flight work and releases resources. */
  close?(): Promise<void>;

  // Capabilities only some kinds have. Each is one optional member, as remove
  // and entries are above, rather than a capabilities() record: a caller asks
  // for the one it needs (`store.localFiles?.()`) and TypeScript narrows, a
  // wrapper that must pass one through forwards that member, and a kind gains
  // one by implementing it. One that is several operations, meaningful only
  // together, is one member returning an interface.

  /**
   * True when update() itself rejects bytes that do not hash to their key,
   * before committing (verify with verify_hash): a caller need not hash them too.
   */
  checksUploadHash?(): boolean;

  /** `ncache stop --force`: close() leaves owed uploads in the journal (for the next start) instead of delivering them. */
  skipFlushOnClose?(): void;

  /** Reads that leave recency alone. */
  quietReads?(): QuietReads;

  /** The store's files, for gc and verify. */
  localFiles?(): LocalFiles;

  /**
   * Drops what this layer remembers about the presence of `keys` (existence
   * cache, a fast_slow's recent slow-tier answers): a store below lost them
   * without going through this layer (gc, verify's repair). Only knowledge is
   * dropped, never a value; a key still held is simply asked again.
   */
  forgetKeys?(keys: readonly Digest[]): void;

  /** Files a local worker may hardlink and adopt (filesystem, and fast_slow over one). */
  linkableFiles?(): LinkableFiles;

  /**
   * Where a remote store keeps its values, resolved as it will reach them
   * (S3: endpoint, bucket and key prefix): what is known about what one
   * location holds must not be carried over to another.
   */
  remoteLocation?(): string;
}

// ---------------------------------------------------------------------------
// Helpers every store gets for free.

/** Size of one key, or undefined when absent. */
export async function hasOne(store: StoreDriver, key: Digest): Promise<number | undefined> {
  const [size] = await store.has([key]);
  return size;
}

/** A byte stream over one buffer, cut into chunks of at most `chunkSize`. */
export async function* bufferStream(data: Uint8Array, chunkSize = 1 << 20): ByteStream {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length === 0) return;
  for (let off = 0; off < buf.length; off += chunkSize) {
    yield buf.subarray(off, Math.min(buf.length, off + chunkSize));
  }
}

/** Stores a whole buffer (small values: AC entries, batch RPCs, tests). */
export function putBuffer(store: StoreDriver, key: Digest, data: Uint8Array): Promise<void> {
  return store.update(key, bufferStream(data), data.byteLength);
}

/**
 * Reads a whole value into memory. Only for values known to be small:
 * `maxBytes` guards against a surprise (throws INVALID_ARGUMENT past it).
 */
export async function readBuffer(store: StoreDriver, key: Digest, maxBytes = 64 << 20): Promise<Buffer> {
  const stream = await store.getPart(key, 0);
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > maxBytes) {
      throw invalidArgument(`value ${key.hash}/${key.sizeBytes} is larger than ${maxBytes} bytes; stream it instead`);
    }
    parts.push(chunk);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

/** Reads a whole value, or undefined when absent. */
export async function readBufferIfPresent(
  store: StoreDriver,
  key: Digest,
  maxBytes?: number,
): Promise<Buffer | undefined> {
  try {
    return await readBuffer(store, key, maxBytes);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A Node Readable over a store value (for piping to files and sockets). */
export async function readableOf(store: StoreDriver, key: Digest, offset = 0, length?: number): Promise<Readable> {
  return Readable.from(await store.getPart(key, offset, length), { objectMode: false });
}

/**
 * Passes `source` through, failing if it yields more or fewer than `size`
 * bytes. Stores wrap their input in this so a short or long stream can never
 * be committed.
 */
export async function* exactSize(source: ByteStream, size: number, what: string): ByteStream {
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.length;
    if (seen > size) throw invalidArgument(`${what}: received more than the declared ${size} bytes`);
    yield chunk;
  }
  if (seen !== size) throw invalidArgument(`${what}: received ${seen} bytes, declared ${size}`);
}

/** Walks a store tree depth-first (the root first). */
export function* walkStores(root: StoreDriver): Generator<StoreDriver> {
  yield root;
  for (const child of root.children?.() ?? []) yield* walkStores(child);
}

/** Starts every store in a tree, children before parents. */
export async function startTree(root: StoreDriver, started = new Set<StoreDriver>()): Promise<void> {
  if (started.has(root)) return;
  started.add(root);
  for (const child of root.children?.() ?? []) await startTree(child, started);
  await root.start?.();
}

/** Closes every store in a tree, parents before children (parents may flush into children). */
export async function closeTree(root: StoreDriver, closed = new Set<StoreDriver>()): Promise<void> {
  if (closed.has(root)) return;
  closed.add(root);
  await root.close?.();
  for (const child of root.children?.() ?? []) await closeTree(child, closed);
}

/** Checks the offset/length arguments of getPart against a known size. */
export function checkRange(
  what: string,
  size: number,
  offset: number,
  length: number | undefined,
): { start: number; end: number } {
  if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument(`${what}: bad read offset ${offset}`);
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw invalidArgument(`${what}: bad read length ${length}`);
  }
  if (offset > size) {
    throw outOfRange(`${what}: read offset ${offset} is past the end (${size} bytes)`);
  }
  const end = length === undefined ? size : Math.min(size, offset + length);
  return { start: offset, end };
}
