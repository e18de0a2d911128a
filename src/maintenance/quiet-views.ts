// Leaves as verify reads them: without counting the reads as use. A store's
// own reads move a value to the recent end of its LRU, so a verify reading
// everything would leave gc with no idea what is really in use. Writes and
// removals (repair) go through the store itself, which keeps its index and
// budget right.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteStream, QuietReads, StoreDriver } from '../stores/store.js';
import { checkRange } from '../stores/store.js';
import { type Digest, digestKey, formatDigest } from '../util/digest.js';
import { notFound } from '../util/errors.js';

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

/** A leaf that reads quietly (memory), read through its QuietReads. */
export class PeekingView implements StoreDriver {
  readonly kind: string;

  constructor(
    private readonly store: StoreDriver,
    private readonly reads: QuietReads,
  ) {
    this.kind = store.kind;
  }

  async has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return keys.map((key) => this.reads.peekSize(key));
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.store.update(key, source, size);
  }

  async remove(key: Digest): Promise<boolean> {
    return (await this.store.remove?.(key)) ?? false;
  }

  getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    return this.reads.peekPart(key, offset, length);
  }
}

/** The leaf read without touching recency where the store allows it, else the store itself. */
export function quietView(store: StoreDriver): StoreDriver {
  const files = store.localFiles?.();
  if (files !== undefined) return new RawFileView(store, files.contentPath);
  const reads = store.quietReads?.();
  return reads !== undefined ? new PeekingView(store, reads) : store;
}
