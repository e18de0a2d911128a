// Where each leaf store of the daemon sits, for gc and verify: walks the
// config's store specs and the built store tree side by side and describes
// every leaf (memory, filesystem, S3) by what gc and verify must know about it:
//
// - local (memory, filesystem: gc may evict from it) or remote (S3: shared
//   with teammates, gc never deletes from it);
// - the fast_slow stores above it and which side it is on (a fast copy whose
//   slow side holds the key is not the only copy; keys the journal owes a slow
//   tier must stay in the fast one);
// - whether it holds a dedup store's index entries or chunks, or plain CAS or
//   AC values (what "a good value" means when verifying);
// - the compression layers between it and that meaning (verify reads a single
//   leaf through the same layers).
//
// Ids are the catalog's store ids (factory.catalogStoreId): the config path
// with the top-level index replaced by the store's name, e.g.
// "CAS.verify.backend.fast_slow.fast".
import type { CompressionSpec, NcacheConfig, StoreSpec } from '../config/types.js';
import type { StoreManager } from '../stores/factory.js';
import type { StoreDriver } from '../stores/store.js';

export type LeafLocation = 'local' | 'remote';

/** What the values under a key are, which decides how verify checks them. */
export type ValueRole = 'cas' | 'ac' | 'dedup_index' | 'dedup_chunk' | 'unknown';

export interface FastSlowPlace {
  readonly store: StoreDriver;
  /** The fast_slow store's catalog id (upload journal, slow-tier presence). */
  readonly storeId: string;
  /** Which side of it the leaf is on. */
  readonly side: 'fast' | 'slow';
  /** The other side's subtree. */
  readonly other: StoreDriver;
  /** Ids of the leaves under the other side. */
  otherLeafIds: string[];
}

export interface DedupPlace {
  readonly store: StoreDriver;
  /** The dedup store's catalog id (catalog.dedup rows). */
  readonly storeId: string;
  readonly part: 'index' | 'content';
  readonly index: StoreDriver;
  readonly content: StoreDriver;
}

export interface CompressionLayer {
  readonly spec: CompressionSpec;
  readonly store: StoreDriver;
}

export interface Leaf {
  /** Catalog-style id of the leaf itself, e.g. "CAS.fast_slow.fast". */
  readonly id: string;
  readonly kind: string;
  readonly store: StoreDriver;
  readonly location: LeafLocation;
  readonly role: ValueRole;
  /** Top-level store (config name) whose tree it was found in. */
  readonly topStore: string;
  /** fast_slow stores above it, outermost first. */
  readonly fastSlow: readonly FastSlowPlace[];
  /** The nearest dedup store above it, if any. */
  readonly dedup: DedupPlace | undefined;
  /** Compression stores between the leaf and its role boundary (top or dedup), outermost first. */
  readonly compression: readonly CompressionLayer[];
}

const LOCAL_KINDS = new Set(['memory', 'filesystem']);
const REMOTE_KINDS = new Set(['experimental_cloud_object_store']);

/** The child specs of a spec, in the order its store's children() lists them, with their path fields. */
function childSpecs(spec: StoreSpec): { field: string; spec: StoreSpec }[] {
  switch (spec.kind) {
    case 'fast_slow':
      return [
        { field: 'fast', spec: spec.fast },
        { field: 'slow', spec: spec.slow },
      ];
    case 'verify':
    case 'existence_cache':
    case 'compression':
      return [{ field: 'backend', spec: spec.backend }];
    case 'completeness_checking':
      return [
        { field: 'backend', spec: spec.backend },
        { field: 'cas_store', spec: spec.cas_store },
      ];
    case 'size_partitioning':
      return [
        { field: 'lower_store', spec: spec.lower_store },
        { field: 'upper_store', spec: spec.upper_store },
      ];
    case 'shard':
      return spec.stores.map((entry, i) => ({ field: `stores[${i}].store`, spec: entry.store }));
    case 'dedup':
      return [
        { field: 'index_store', spec: spec.index_store },
        { field: 'content_store', spec: spec.content_store },
      ];
    default:
      return [];
  }
}

/** Store names the servers use as CAS and as action cache. */
export function storeRoles(config: NcacheConfig): Map<string, ValueRole> {
  const cas = new Set<string>();
  const ac = new Set<string>();
  for (const server of config.servers) {
    const s = server.services;
    for (const entry of s.cas ?? []) cas.add(entry.cas_store);
    for (const entry of s.execution ?? []) cas.add(entry.cas_store);
    for (const name of Object.values(s.bytestream?.cas_stores ?? {})) cas.add(name);
    for (const entry of s.ac ?? []) ac.add(entry.ac_store);
  }
  const roles = new Map<string, ValueRole>();
  for (const named of config.stores) {
    const isCas = cas.has(named.name);
    const isAc = ac.has(named.name);
    // A store serving both would hold both kinds of values: no single check fits.
    roles.set(named.name, isCas && !isAc ? 'cas' : isAc && !isCas ? 'ac' : 'unknown');
  }
  return roles;
}

interface WalkState {
  readonly topStore: string;
  readonly role: ValueRole;
  readonly fastSlow: readonly FastSlowPlace[];
  readonly dedup: DedupPlace | undefined;
  readonly compression: readonly CompressionLayer[];
}

/**
 * Every memory, filesystem and S3 leaf of the daemon's stores, each once (a
 * leaf reached twice through ref_store keeps the description with the most
 * context: the more fast_slow stores above it, and a known role).
 */
export function classifyLeaves(config: NcacheConfig, stores: StoreManager): Leaf[] {
  const roles = storeRoles(config);
  const specByName = new Map(config.stores.map((named) => [named.name, named.spec]));
  const found = new Map<StoreDriver, Leaf>();

  const visit = (spec: StoreSpec, store: StoreDriver, id: string, state: WalkState, refDepth: number): void => {
    if (spec.kind === 'ref_store') {
      const target = specByName.get(spec.name);
      if (target === undefined || refDepth > 16) return;
      visit(target, stores.get(spec.name), spec.name, state, refDepth + 1);
      return;
    }
    if (LOCAL_KINDS.has(spec.kind) || REMOTE_KINDS.has(spec.kind)) {
      const leaf: Leaf = {
        id,
        kind: spec.kind,
        store,
        location: LOCAL_KINDS.has(spec.kind) ? 'local' : 'remote',
        role: state.role,
        topStore: state.topStore,
        fastSlow: state.fastSlow,
        dedup: state.dedup,
        compression: state.compression,
      };
      const previous = found.get(store);
      if (previous === undefined || richer(leaf, previous)) found.set(store, leaf);
      return;
    }
    const specs = childSpecs(spec);
    const drivers = store.children?.() ?? [];
    if (specs.length !== drivers.length) return; // a store shape we do not know: leave it alone
    specs.forEach((child, i) => {
      const childStore = drivers[i]!;
      const childId = `${id}.${spec.kind}.${child.field}`;
      let next: WalkState = state;
      if (spec.kind === 'fast_slow') {
        const place: FastSlowPlace = {
          store,
          storeId: id,
          side: i === 0 ? 'fast' : 'slow',
          other: drivers[1 - i]!,
          otherLeafIds: [],
        };
        next = { ...state, fastSlow: [...state.fastSlow, place] };
      } else if (spec.kind === 'dedup') {
        next = {
          ...state,
          role: i === 0 ? 'dedup_index' : 'dedup_chunk',
          dedup: { store, storeId: id, part: i === 0 ? 'index' : 'content', index: drivers[0]!, content: drivers[1]! },
          compression: [],
        };
      } else if (spec.kind === 'compression') {
        next = { ...state, compression: [...state.compression, { spec, store }] };
      } else if (spec.kind === 'completeness_checking' && i === 1) {
        next = { ...state, role: 'cas', compression: [] };
      }
      visit(child.spec, childStore, childId, next, refDepth);
    });
  };

  for (const named of config.stores) {
    const state: WalkState = {
      topStore: named.name,
      role: roles.get(named.name) ?? 'unknown',
      fastSlow: [],
      dedup: undefined,
      compression: [],
    };
    visit(named.spec, stores.get(named.name), named.name, state, 0);
  }

  const leaves = [...found.values()];
  // Which leaves sit on the other side of each fast_slow (for repair sources).
  for (const leaf of leaves) {
    for (const place of leaf.fastSlow) {
      const other = leaves.filter((l) => l !== leaf && l.fastSlow.some((p) => p.store === place.store && p.side !== place.side));
      place.otherLeafIds.splice(0, place.otherLeafIds.length, ...other.map((l) => l.id));
    }
  }
  return leaves;
}

function richer(a: Leaf, b: Leaf): boolean {
  if (a.fastSlow.length !== b.fastSlow.length) return a.fastSlow.length > b.fastSlow.length;
  return b.role === 'unknown' && a.role !== 'unknown';
}

/** The leaves holding the other side's copies of `leaf`'s keys, for each fast_slow above it (innermost first). */
export function otherSideLeaves(leaf: Leaf, leaves: readonly Leaf[]): Leaf[] {
  const out: Leaf[] = [];
  for (const place of [...leaf.fastSlow].reverse()) {
    for (const id of place.otherLeafIds) {
      const other = leaves.find((l) => l.id === id);
      if (other !== undefined && !out.includes(other)) out.push(other);
    }
  }
  return out;
}
