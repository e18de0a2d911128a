// Leaves as verify reads them: without counting the reads as use. A store's
// own reads move a value to the recent end of its LRU, so a verify reading
// everything would leave gc with no idea what is really in use. Writes and
// removals (repair) go through the store itself, which keeps its index and
// budget right.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteStream, StoreDriver } from '../stores/store.js';
import { checkRange } from '../stores/store.js';
import { type Digest, digestKey, formatDigest } from '../util/digest.js';
import { notFound } from '../util/errors.js';
import { filesystemExtras } from './store-access.js';

/** A filesystem leaf, read straight from its files. */
export class RawFileView implements StoreDriver {
  readonly kind = 'filesystem';

  constructor(
    private readonly store: StoreDriver,
    private readonly contentPath: string,
  ) {}

  private file(key: Digest): string {
    return join(this.contentPath, digestKey(key));
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return Promise.all(
      keys.map(async (key) => {
        try {
          const st = await stat(this.file(key));
          return st.isFile() ? st.size : undefined;
        } catch {
          return undefined;
        }
      }),
    );
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.store.update(key, source, size);
  }

  async remove(key: Digest): Promise<boolean> {
    return (await this.store.remove?.(key)) ?? false;
  }

  async getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    const path = this.file(key);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`file ${path} of ${formatDigest(key)} is gone`);
      throw err;
    }
    const { start, end } = checkRange(`read of ${path}`, size, offset, length);
    if (end <= start) return (async function* () {})();
    return createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }
}

/** A store that can size and read a value without touching its recency (MemoryStore.peekSize/peekPart). */
export interface Peekable extends StoreDriver {
  peekSize(key: Digest): number | undefined;
  peekPart(key: Digest, offset: number, length?: number): Promise<ByteStream>;
}

export function isPeekable(store: StoreDriver): store is Peekable {
  const s = store as Partial<Peekable>;
  return typeof s.peekPart === 'function' && typeof s.peekSize === 'function';
}

/** A peekable leaf (memory), read with peekPart. */
export class PeekingView implements StoreDriver {
  readonly kind: string;

  constructor(private readonly store: Peekable) {
    this.kind = store.kind;
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return keys.map((key) => this.store.peekSize(key));
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.store.update(key, source, size);
  }

  async remove(key: Digest): Promise<boolean> {
    return (await this.store.remove?.(key)) ?? false;
  }

  getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    return this.store.peekPart(key, offset, length);
  }
}

/** The leaf read without touching recency where the store allows it, else the store itself. */
export function quietView(store: StoreDriver): StoreDriver {
  const fs = filesystemExtras(store);
  if (fs !== undefined) return new RawFileView(store, fs.contentPath);
  return isPeekable(store) ? new PeekingView(store) : store;
}
