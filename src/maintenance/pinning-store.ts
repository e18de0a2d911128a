// What the gRPC services use in place of a named store: the same store, with
// every key an upload writes or a read streams pinned in the daemon's
// PinRegistry (one per running daemon, made in startDaemon and handed to gc
// through the control context) for as long as the request uses it, so gc
// leaves it alone.
// Transparent otherwise: same kind, stats and children (tree walks see the
// store itself), no start/close (the StoreManager owns those).
// Local workers get these too (execution-setup.ts), so linkableFiles is
// forwarded with the same rule: a key is pinned while pathOf brings it in
// and while adopt hands a file over.
import type { BlobFile, ByteStream, LinkableFiles, StoreDriver, StoreEntry } from '../stores/store.js';
import type { StoreStats } from '../stores/store-stats.js';
import type { Digest } from '../util/digest.js';
import type { PinRegistry } from './pins.js';

export class PinningStore implements StoreDriver {
  readonly kind: string;
  readonly remove?: (key: Digest) => Promise<boolean>;
  readonly entries?: () => AsyncIterable<StoreEntry>;
  readonly stats?: () => StoreStats;
  /** Forwarded: ByteStream skips its own hashing when the store checks uploads. */
  readonly checksUploadHash?: () => boolean;
  readonly children?: () => readonly StoreDriver[];
  readonly linkableFiles?: () => LinkableFiles;

  constructor(
    readonly inner: StoreDriver,
    private readonly pins: PinRegistry,
  ) {
    this.kind = inner.kind;
    if (inner.remove) this.remove = (key) => inner.remove!(key);
    if (inner.entries) this.entries = () => inner.entries!();
    if (inner.stats) this.stats = () => inner.stats!();
    if (inner.checksUploadHash) this.checksUploadHash = () => inner.checksUploadHash!();
    if (inner.children) this.children = () => inner.children!();
    const files = inner.linkableFiles?.();
    if (files) {
      const pinned = pinnedFiles(files, pins);
      this.linkableFiles = () => pinned;
    }
  }

  has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return this.inner.has(keys);
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.pins.with(key, () => this.inner.update(key, source, size));
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const release = this.pins.pin(key);
    try {
      return releasing(await this.inner.getPart(key, offset, length), release);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The key stays pinned until the file is closed. */
  async openBlobFile(key: Digest, offset: number, length?: number): Promise<BlobFile | undefined> {
    if (this.inner.openBlobFile === undefined) return undefined;
    const release = this.pins.pin(key);
    let file: BlobFile | undefined;
    try {
      file = await this.inner.openBlobFile(key, offset, length);
    } finally {
      if (file === undefined) release();
    }
    if (file === undefined) return undefined;
    const opened = file;
    return {
      start: opened.start,
      end: opened.end,
      read: (buf, position) => opened.read(buf, position),
      close: () => opened.close().finally(release),
    };
  }
}

/**
 * `files` with each call's key pinned while it runs. The path pathOf returns
 * is the caller's to hardlink at once: the contract already says the file may
 * be unlinked at any time after.
 */
function pinnedFiles(files: LinkableFiles, pins: PinRegistry): LinkableFiles {
  return {
    contentPath: files.contentPath,
    pathOf: (key) => pins.with(key, () => files.pathOf(key)),
    adopt: (key, path) => pins.with(key, () => files.adopt(key, path)),
    evictModified: (key, ino) => files.evictModified(key, ino),
  };
}

/** The stream, calling `release` once it ends, fails or is abandoned. */
function releasing(stream: ByteStream, release: () => void): ByteStream {
  return {
    [Symbol.asyncIterator]() {
      const it = stream[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const r = await it.next();
            if (r.done) release();
            return r;
          } catch (err) {
            release();
            throw err;
          }
        },
        async return(value?: unknown) {
          release();
          return (await it.return?.(value)) ?? { done: true, value: undefined };
        },
        async throw(err?: unknown) {
          release();
          if (it.throw) return it.throw(err);
          throw err;
        },
      };
    },
  };
}
