// Builds store trees from config specs: one exhaustive switch over the kind,
// recursing into children. StoreManager owns the named top-level stores.
import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import type { NamedStoreSpec, StoreSpec } from '../config/types.js';
import type { Clock } from '../util/clock.js';
import { failedPrecondition, unimplemented } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { CompletenessCheckingStore } from './completeness-checking-store.js';
import { DedupStore } from './dedup-store.js';
import { CompressionStore } from './compression-store.js';
import { ExistenceCacheStore } from './existence-cache-store.js';
import { FastSlowStore } from './fast-slow-store.js';
import { FilesystemStore } from './filesystem-store.js';
import { MemoryStore } from './memory-store.js';
import { NoopStore } from './noop-store.js';
import { loadedCloudObjectStoreModule } from './optional-kinds.js';
import { RefStore } from './ref-store.js';
import { ShardStore } from './shard-store.js';
import { SizePartitioningStore } from './size-partitioning-store.js';
import type { StoreContext } from './store-context.js';
import { VerifyStore } from './verify-store.js';
import { type StoreDriver, closeTree, startTree } from './store.js';

/**
 * Builds the store described by `spec`. `path` is where the spec sits in the
 * config (e.g. `stores[0].verify.backend`), used in error messages.
 */
export function createStore(spec: StoreSpec, ctx: StoreContext, path: string): StoreDriver {
  const child = (childSpec: StoreSpec, field: string) => createStore(childSpec, ctx, `${path}.${spec.kind}.${field}`);
  switch (spec.kind) {
    case 'memory':
      return new MemoryStore(spec, ctx);
    case 'noop':
      return new NoopStore();
    case 'size_partitioning':
      return new SizePartitioningStore(spec.size, child(spec.lower_store, 'lower_store'), child(spec.upper_store, 'upper_store'));
    case 'ref_store':
      return new RefStore(spec.name, ctx);
    case 'filesystem':
      return new FilesystemStore(spec, ctx, catalogStoreId(path, ctx.storeName));
    case 'fast_slow':
      return new FastSlowStore(child(spec.fast, 'fast'), child(spec.slow, 'slow'), {
        fastDirection: spec.fast_direction,
        slowDirection: spec.slow_direction,
        slowWriteMode: spec.slow_write_mode ?? 'sync',
        logger: ctx.logger,
        clock: ctx.clock,
        catalog: ctx.catalog,
        storeId: catalogStoreId(path, ctx.storeName),
        slowTier: createHash('sha256').update(JSON.stringify(spec.slow)).digest('hex').slice(0, 16),
      });
    case 'verify':
      return new VerifyStore(child(spec.backend, 'backend'), {
        verifySize: spec.verify_size,
        verifyHash: spec.verify_hash,
      });
    case 'completeness_checking':
      return new CompletenessCheckingStore(child(spec.backend, 'backend'), child(spec.cas_store, 'cas_store'), ctx);
    case 'existence_cache':
      return new ExistenceCacheStore(child(spec.backend, 'backend'), spec.eviction_policy, ctx);
    case 'shard':
      return new ShardStore(
        spec.stores.map((entry, i) => ({ store: child(entry.store, `stores[${i}].store`), weight: entry.weight })),
      );
    case 'dedup':
      return new DedupStore(
        spec,
        child(spec.index_store, 'index_store'),
        child(spec.content_store, 'content_store'),
        ctx,
        catalogStoreId(path, ctx.storeName),
      );
    case 'compression':
      return new CompressionStore(spec, child(spec.backend, 'backend'), ctx, { path: `${path}.compression` });
    case 'experimental_cloud_object_store':
      return loadedCloudObjectStoreModule(path).createCloudObjectStore(spec, ctx);
    default: {
      const unknown: never = spec;
      throw unimplemented(`${path}: unknown store kind ${JSON.stringify((unknown as { kind?: unknown }).kind)}`);
    }
  }
}

/**
 * A store's id in the catalog: its config path with the top-level index
 * replaced by the store's name ("stores[0].verify.backend" -> "CAS.verify.backend"),
 * so reordering the stores list keeps the journal and presence knowledge.
 */
export function catalogStoreId(path: string, storeName: string | undefined): string {
  return storeName === undefined ? path : path.replace(/^stores\[\d+\]/, storeName);
}

/** Names of the top-level stores a spec refers to through ref_store, anywhere in its tree. */
export function referencedStoreNames(spec: StoreSpec): string[] {
  const names: string[] = [];
  const visit = (s: StoreSpec): void => {
    switch (s.kind) {
      case 'ref_store':
        names.push(s.name);
        return;
      case 'fast_slow':
        visit(s.fast);
        visit(s.slow);
        return;
      case 'verify':
      case 'existence_cache':
      case 'compression':
        visit(s.backend);
        return;
      case 'completeness_checking':
        visit(s.backend);
        visit(s.cas_store);
        return;
      case 'size_partitioning':
        visit(s.lower_store);
        visit(s.upper_store);
        return;
      case 'shard':
        for (const entry of s.stores) visit(entry.store);
        return;
      case 'dedup':
        visit(s.index_store);
        visit(s.content_store);
        return;
      case 'memory':
      case 'filesystem':
      case 'noop':
      case 'experimental_cloud_object_store':
        return;
      default: {
        const unknown: never = s;
        return unknown;
      }
    }
  };
  visit(spec);
  return names;
}

/**
 * Orders named stores so every store comes after the stores it refers to.
 * Throws on a reference to an unknown name or a reference cycle.
 */
function dependencyOrder(specs: readonly NamedStoreSpec[]): string[] {
  const byName = new Map<string, { spec: StoreSpec; index: number }>();
  specs.forEach((named, index) => {
    if (byName.has(named.name)) {
      throw failedPrecondition(`stores[${index}].name: duplicate store name ${JSON.stringify(named.name)}`);
    }
    byName.set(named.name, { spec: named.spec, index });
  });
  const order: string[] = [];
  const done = new Set<string>();
  const visiting: string[] = [];
  const visit = (name: string): void => {
    if (done.has(name)) return;
    const cycleStart = visiting.indexOf(name);
    if (cycleStart >= 0) {
      const cycle = [...visiting.slice(cycleStart), name].map((n) => JSON.stringify(n)).join(' -> ');
      throw failedPrecondition(`stores: ref_store reference cycle ${cycle}`);
    }
    const entry = byName.get(name)!;
    visiting.push(name);
    for (const ref of referencedStoreNames(entry.spec)) {
      if (!byName.has(ref)) {
        throw failedPrecondition(
          `stores[${entry.index}] (${JSON.stringify(name)}): ref_store names unknown store ${JSON.stringify(ref)}`,
        );
      }
      visit(ref);
    }
    visiting.pop();
    done.add(name);
    order.push(name);
  };
  for (const named of specs) visit(named.name);
  return order;
}

/** Builds, starts and closes the named top-level stores of a config. */
export class StoreManager {
  private readonly stores = new Map<string, StoreDriver>();
  /** Referenced stores first, so they are started before the stores that use them. */
  private readonly order: string[];

  constructor(
    specs: NamedStoreSpec[],
    deps: { logger: Logger; clock: Clock; catalog?: Catalog; env?: NodeJS.ProcessEnv },
  ) {
    this.order = dependencyOrder(specs);
    const ctx: StoreContext = {
      logger: deps.logger,
      clock: deps.clock,
      storeByName: (name) => this.get(name),
      catalog: deps.catalog,
      env: deps.env,
    };
    specs.forEach((named, index) => {
      this.stores.set(named.name, createStore(named.spec, { ...ctx, storeName: named.name }, `stores[${index}]`));
    });
  }

  /** The store with this config name; throws FAILED_PRECONDITION if there is none. */
  get(name: string): StoreDriver {
    const store = this.stores.get(name);
    if (store === undefined) {
      const known = [...this.stores.keys()].map((n) => JSON.stringify(n)).join(', ');
      throw failedPrecondition(`no store named ${JSON.stringify(name)} (configured: ${known || 'none'})`);
    }
    return store;
  }

  names(): string[] {
    return [...this.stores.keys()];
  }

  /** Starts every store tree once, referenced stores first. */
  async start(): Promise<void> {
    const started = new Set<StoreDriver>();
    for (const name of this.order) await startTree(this.get(name), started);
  }

  /** Closes every store tree once, users of a referenced store before the store itself. */
  async close(): Promise<void> {
    const closed = new Set<StoreDriver>();
    const errors: unknown[] = [];
    for (const name of [...this.order].reverse()) {
      try {
        await closeTree(this.get(name), closed);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}
