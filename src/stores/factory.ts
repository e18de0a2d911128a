// Builds store trees from config specs: children through the table of store
// kinds (config/store-kinds.ts), then one exhaustive switch from kind to
// driver. StoreManager owns the named top-level stores and records what it built.
import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import type { ChildRole } from '../config/store-kinds.js';
import { childPath, childSpecs, referencedStoreNames } from '../config/store-tree.js';
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
import { loadedCloudObjectStoreModule, loadedGrpcStoreModule } from './optional-kinds.js';
import { RefStore } from './ref-store.js';
import { ShardStore } from './shard-store.js';
import { SizePartitioningStore } from './size-partitioning-store.js';
import type { StoreContext } from './store-context.js';
import { VerifyStore } from './verify-store.js';
import { type StoreDriver, closeTree, startTree } from './store.js';

/** A store the factory built: its driver with the spec, config path and catalog id it was built from. */
export interface BuiltStore {
  readonly driver: StoreDriver;
  readonly spec: StoreSpec;
  /** Where the spec sits in the config, for messages: "stores[0].verify.backend". */
  readonly path: string;
  /** Its id in the catalog (see catalogStoreId): "CAS.verify.backend". */
  readonly catalogId: string;
  /** The field it sits in below its parent ("backend", "stores[0].store"); "" for a named store. */
  readonly field: string;
  /** What it holds for its parent (store-kinds.ts); undefined for a named store. */
  readonly role: ChildRole | undefined;
  /** Its children, in the order driver.children() lists them; none for ref_store (see RefStore). */
  readonly children: readonly BuiltStore[];
}

/**
 * Builds the store described by `spec`. `path` is where the spec sits in the
 * config (e.g. `stores[0].verify.backend`), used in error messages.
 */
export function createStore(spec: StoreSpec, ctx: StoreContext, path: string): StoreDriver {
  return buildStore(spec, ctx, path, '', undefined).driver;
}

/** Builds a store tree: the children the table of store kinds lists first, then the store over them. */
function buildStore(spec: StoreSpec, ctx: StoreContext, path: string, field: string, role: ChildRole | undefined): BuiltStore {
  const children = childSpecs(spec).map((c) => buildStore(c.spec, ctx, childPath(path, spec.kind, c.suffix), c.suffix, c.role));
  const catalogId = catalogStoreId(path, ctx.storeName);
  const driver = createDriver(spec, ctx, path, catalogId, (suffix) => {
    const child = children.find((c) => c.field === suffix);
    if (child === undefined) throw unimplemented(`${path}: ${spec.kind} has no child store at ${suffix}`);
    return child.driver;
  });
  return { driver, spec, path, catalogId, field, role, children };
}

/** The one switch over kinds: constructs a kind's driver over its already built children (by field). */
function createDriver(
  spec: StoreSpec,
  ctx: StoreContext,
  path: string,
  catalogId: string,
  child: (suffix: string) => StoreDriver,
): StoreDriver {
  switch (spec.kind) {
    case 'memory':
      return new MemoryStore(spec, ctx);
    case 'noop':
      return new NoopStore();
    case 'size_partitioning':
      return new SizePartitioningStore(spec.size, child('lower_store'), child('upper_store'));
    case 'ref_store':
      return new RefStore(spec.name, ctx);
    case 'filesystem':
      return new FilesystemStore(spec, ctx, catalogId);
    case 'fast_slow':
      return new FastSlowStore(child('fast'), child('slow'), {
        fastDirection: spec.fast_direction,
        slowDirection: spec.slow_direction,
        slowWriteMode: spec.slow_write_mode ?? 'sync',
        logger: ctx.logger,
        clock: ctx.clock,
        catalog: ctx.catalog,
        storeId: catalogId,
        slowTier: slowTierIdentity(spec.slow, child('slow'), ctx),
      });
    case 'verify':
      return new VerifyStore(child('backend'), {
        verifySize: spec.verify_size,
        verifyHash: spec.verify_hash,
      });
    case 'completeness_checking':
      return new CompletenessCheckingStore(child('backend'), child('cas_store'), ctx);
    case 'existence_cache':
      return new ExistenceCacheStore(child('backend'), spec.eviction_policy, ctx);
    case 'shard':
      return new ShardStore(spec.stores.map((entry, i) => ({ store: child(`stores[${i}].store`), weight: entry.weight })));
    case 'dedup':
      return new DedupStore(spec, child('index_store'), child('content_store'), ctx, catalogId);
    case 'compression':
      return new CompressionStore(spec, child('backend'), ctx, { path: `${path}.compression` });
    case 'experimental_cloud_object_store':
      return loadedCloudObjectStoreModule(path).createCloudObjectStore(spec, ctx);
    case 'grpc':
      return loadedGrpcStoreModule(path).createGrpcStore(spec, ctx, path);
    default: {
      const unknown: never = spec;
      throw unimplemented(`${path}: unknown store kind ${JSON.stringify((unknown as { kind?: unknown }).kind)}`);
    }
  }
}

/**
 * What identifies a fast_slow's slow tier for the catalog's knowledge of what
 * it holds: its config and where its remote stores resolve to (an endpoint
 * from AWS_ENDPOINT_URL_S3 is in no spec). Knowledge about another identity is
 * dropped at start.
 */
function slowTierIdentity(spec: StoreSpec, slow: StoreDriver, ctx: StoreContext): string {
  const locations = [...remoteLocations(slow, ctx, new Set())];
  return createHash('sha256').update(JSON.stringify({ spec, locations })).digest('hex').slice(0, 16);
}

/** remoteLocation() of every store in a built tree, following ref_store to the named store (built first: see StoreManager). */
function* remoteLocations(driver: StoreDriver, ctx: StoreContext, seen: Set<StoreDriver>): Generator<string> {
  if (seen.has(driver)) return;
  seen.add(driver);
  const location = driver.remoteLocation?.();
  if (location !== undefined) yield location;
  if (driver instanceof RefStore) yield* remoteLocations(ctx.storeByName(driver.name), ctx, seen);
  for (const child of driver.children?.() ?? []) yield* remoteLocations(child, ctx, seen);
}

/**
 * A store's id in the catalog: its config path with the top-level index
 * replaced by the store's name ("stores[0].verify.backend" -> "CAS.verify.backend"),
 * so reordering the stores list keeps the journal and presence knowledge.
 * The only place such an id is made: everything else reads BuiltStore.catalogId.
 */
function catalogStoreId(path: string, storeName: string | undefined): string {
  return storeName === undefined ? path : path.replace(/^stores\[\d+\]/, storeName);
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
  private readonly stores = new Map<string, BuiltStore>();
  /** Referenced stores first: built and started before the stores that use them. */
  private readonly order: string[];
  /** Config names in config order. */
  private readonly configOrder: string[];

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
    this.configOrder = specs.map((named) => named.name);
    // Referenced stores first, so a store can look through a ref_store while it is built (slowTierIdentity).
    for (const name of this.order) {
      const index = this.configOrder.indexOf(name);
      const named = specs[index]!;
      this.stores.set(name, buildStore(named.spec, { ...ctx, storeName: name }, `stores[${index}]`, '', undefined));
    }
  }

  /** The store with this config name; throws FAILED_PRECONDITION if there is none. */
  get(name: string): StoreDriver {
    return this.tree(name).driver;
  }

  /** What was built for the store with this config name: drivers with their specs, paths and catalog ids. */
  tree(name: string): BuiltStore {
    const built = this.stores.get(name);
    if (built === undefined) {
      const known = this.configOrder.map((n) => JSON.stringify(n)).join(', ');
      throw failedPrecondition(`no store named ${JSON.stringify(name)} (configured: ${known || 'none'})`);
    }
    return built;
  }

  /** Config names, in config order. */
  names(): string[] {
    return [...this.configOrder];
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
