// A filesystem leaf as verify reads it: straight from its files, so checking
// every blob does not count as using it (the store's own reads move a blob to
// the recent end of its LRU, and a verify would leave gc with no idea what is
// really in use). Writes and removals (repair) go through the store itself,
// which keeps its index and budget right.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteStream, StoreDriver } from '../stores/store.js';
import { checkRange } from '../stores/store.js';
import { type Digest, digestKey, formatDigest } from '../util/digest.js';
import { notFound } from '../util/errors.js';

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
