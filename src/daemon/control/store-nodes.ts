// The stores of one named store's tree as stats and ls show them: what the
// StoreManager built, each with its catalog id as path ("CAS.fast_slow.fast")
// and the tier it is part of ("fast" / "slow" below a fast_slow). Which named
// stores are CAS and which action caches comes from config/service-bindings.ts.
import { type HeldValues, serviceBindings, storeForInstance as bindingForInstance, storesHolding } from '../../config/service-bindings.js';
import type { ChildRole } from '../../config/store-kinds.js';
import type { NamedStoreSpec, NcacheConfig, StoreSpec } from '../../config/types.js';
import type { BuiltStore, StoreManager } from '../../stores/factory.js';
import type { StoreDriver } from '../../stores/store.js';

export interface StoreNode {
  readonly driver: StoreDriver;
  readonly spec: StoreSpec;
  /** Catalog id: "CAS", "CAS.verify.backend.fast_slow.fast". */
  readonly path: string;
  /** The field within the parent ("backend", "fast", "index_store"); "" for the named store itself. */
  readonly role: string;
  /** What it holds for its parent (the table of store kinds); undefined for the named store itself. */
  readonly holds: ChildRole | undefined;
  readonly depth: number;
  /** "fast" or "slow" when below a fast_slow (the nearest one decides), else undefined. */
  readonly tier: 'fast' | 'slow' | undefined;
  /** The node's children in the walk (same order as driver.children()). */
  readonly children: StoreNode[];
}

/** The tree of a named store, as the StoreManager built it. */
export function storeTree(stores: StoreManager, named: NamedStoreSpec): StoreNode {
  return toNode(stores.tree(named.name), 0, undefined);
}

function toNode(built: BuiltStore, depth: number, tier: 'fast' | 'slow' | undefined): StoreNode {
  const children = built.children.map((child) =>
    toNode(child, depth + 1, child.role === 'fast' || child.role === 'slow' ? child.role : tier),
  );
  return { driver: built.driver, spec: built.spec, path: built.catalogId, role: built.field, holds: built.role, depth, tier, children };
}

/** Every node of a tree, root first. */
export function* flatten(node: StoreNode): Generator<StoreNode> {
  yield node;
  for (const child of node.children) yield* flatten(child);
}

/** The named stores the services use as CAS and as action cache, each once, in config order. */
export function storesByRole(config: Pick<NcacheConfig, 'stores' | 'servers'>): Record<HeldValues, NamedStoreSpec[]> {
  const bindings = serviceBindings(config);
  const pick = (holds: HeldValues) => {
    const names = new Set(storesHolding(bindings, holds));
    return config.stores.filter((s) => names.has(s.name));
  };
  return { cas: pick('cas'), ac: pick('ac') };
}

/** The store serving `instance` as CAS (or AC), by name. */
export function storeForInstance(config: Pick<NcacheConfig, 'servers'>, role: HeldValues, instance: string): string | undefined {
  return bindingForInstance(serviceBindings(config), role, instance);
}
