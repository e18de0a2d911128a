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
// It reads the trees the StoreManager recorded (BuiltStore: driver, spec,
// catalog id, children with their roles from config/store-kinds.ts). Ids are
// the catalog's store ids, e.g. "CAS.verify.backend.fast_slow.fast".
import { serviceBindings, storesHolding } from '../config/service-bindings.js';
import type { ChildRole } from '../config/store-kinds.js';
import { leafStorage } from '../config/store-tree.js';
import type { CompressionSpec, NcacheConfig } from '../config/types.js';
import type { BuiltStore, StoreManager } from '../stores/factory.js';
import type { StoreDriver } from '../stores/store.js';
import type { Digest } from '../util/digest.js';

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
  /**
   * Every store above the leaf, on every path to it (through ref_store too):
   * whoever removes a key from the leaf directly tells these to forget it
   * (forgetAbove), so no layer keeps answering "present".
   */
  readonly above: readonly StoreDriver[];
}

/** Store names the services use as CAS and as action cache (config/service-bindings.ts). */
export function storeRoles(config: NcacheConfig): Map<string, ValueRole> {
  const bindings = serviceBindings(config);
  const cas = new Set(storesHolding(bindings, 'cas'));
  const ac = new Set(storesHolding(bindings, 'ac'));
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
  /** The stores on the path from the top store down to this node, excluding it. */
  readonly path: readonly StoreDriver[];
}

/**
 * Every memory, filesystem and S3 leaf of the daemon's stores, each once (a
 * leaf reached twice through ref_store keeps the description with the most
 * context: the more fast_slow stores above it, and a known role).
 */
export function classifyLeaves(config: NcacheConfig, stores: StoreManager): Leaf[] {
  const roles = storeRoles(config);
  const found = new Map<StoreDriver, Leaf>();
  const aboveOf = new Map<StoreDriver, Set<StoreDriver>>();

  const visit = (node: BuiltStore, state: WalkState, refDepth: number): void => {
    const spec = node.spec;
    if (spec.kind === 'ref_store') {
      if (refDepth <= 16) visit(stores.tree(spec.name), { ...state, path: [...state.path, node.driver] }, refDepth + 1);
      return;
    }
    const storage = leafStorage(spec);
    if (storage === 'memory' || storage === 'disk' || storage === 'remote') {
      const above = aboveOf.get(node.driver) ?? new Set();
      for (const store of state.path) above.add(store);
      aboveOf.set(node.driver, above);
      const leaf: Leaf = {
        id: node.catalogId,
        kind: spec.kind,
        store: node.driver,
        location: storage === 'remote' ? 'remote' : 'local',
        role: state.role,
        topStore: state.topStore,
        fastSlow: state.fastSlow,
        dedup: state.dedup,
        compression: state.compression,
        above: [],
      };
      const previous = found.get(node.driver);
      if (previous === undefined || richer(leaf, previous)) found.set(node.driver, leaf);
      return;
    }
    const sibling = (role: ChildRole): StoreDriver | undefined => node.children.find((c) => c.role === role)?.driver;
    const below: WalkState = { ...state, path: [...state.path, node.driver] };
    for (const child of node.children) {
      let next: WalkState = below;
      if (child.role === 'fast' || child.role === 'slow') {
        const other = sibling(child.role === 'fast' ? 'slow' : 'fast');
        if (other === undefined) continue;
        const place: FastSlowPlace = { store: node.driver, storeId: node.catalogId, side: child.role, other, otherLeafIds: [] };
        next = { ...below, fastSlow: [...state.fastSlow, place] };
      } else if (child.role === 'dedup_index' || child.role === 'dedup_content') {
        const index = sibling('dedup_index');
        const content = sibling('dedup_content');
        if (index === undefined || content === undefined) continue;
        next = {
          ...below,
          role: child.role === 'dedup_index' ? 'dedup_index' : 'dedup_chunk',
          dedup: { store: node.driver, storeId: node.catalogId, part: child.role === 'dedup_index' ? 'index' : 'content', index, content },
          compression: [],
        };
      } else if (child.role === 'cas_lookup') {
        next = { ...below, role: 'cas', compression: [] };
      } else if (spec.kind === 'compression') {
        next = { ...below, compression: [...state.compression, { spec, store: node.driver }] };
      }
      visit(child, next, refDepth);
    }
  };

  for (const named of config.stores) {
    const state: WalkState = {
      topStore: named.name,
      role: roles.get(named.name) ?? 'unknown',
      fastSlow: [],
      dedup: undefined,
      compression: [],
      path: [],
    };
    visit(stores.tree(named.name), state, 0);
  }

  const leaves = [...found.values()].map((leaf) => ({ ...leaf, above: [...(aboveOf.get(leaf.store) ?? [])] }));
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

/**
 * Tells every store above `leaf` that it no longer holds `keys`: called after
 * any removal made on the leaf directly rather than through the tree, so an
 * existence cache (or a fast_slow's recent slow-tier answers) never keeps
 * saying "present" for what is gone.
 */
export function forgetAbove(leaf: Leaf, keys: readonly Digest[]): void {
  if (keys.length === 0) return;
  for (const store of leaf.above) store.forgetKeys?.(keys);
}
