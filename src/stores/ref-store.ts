// Delegates to another top-level store by name. Resolved on first use, so
// stores may refer to stores defined later in the config.
import type { Digest } from '../util/digest.js';
import type { StoreContext } from './store-context.js';
import type { BlobFile, ByteStream, StoreDriver, StoreEntry } from './store.js';
import type { RefStoreStats } from './store-stats.js';

export class RefStore implements StoreDriver {
  readonly kind = 'ref_store';
  private target: StoreDriver | undefined;

  constructor(
    readonly name: string,
    private readonly ctx: Pick<StoreContext, 'storeByName'>,
  ) {}

  private resolve(): StoreDriver {
    this.target ??= this.ctx.storeByName(this.name);
    return this.target;
  }

  has(keys: readonly Digest[]): Promise<(number | undefined)[]> {
    return this.resolve().has(keys);
  }

  update(key: Digest, source: ByteStream, size: number): Promise<void> {
    return this.resolve().update(key, source, size);
  }

  getPart(key: Digest, offset: number, length?: number): Promise<ByteStream> {
    return this.resolve().getPart(key, offset, length);
  }

  async openBlobFile(key: Digest, offset: number, length?: number): Promise<BlobFile | undefined> {
    return this.resolve().openBlobFile?.(key, offset, length);
  }

  async remove(key: Digest): Promise<boolean> {
    return (await this.resolve().remove?.(key)) ?? false;
  }

  entries(): AsyncIterable<StoreEntry> {
    const target = this.resolve();
    if (!target.entries) return (async function* () {})();
    return target.entries();
  }

  stats(): RefStoreStats {
    // The named store reports its own numbers; listing it here would count it twice.
    return { kind: this.kind, name: this.name };
  }

  // No children(): the named store is started and closed by the StoreManager,
  // once, however many stores refer to it.
}
