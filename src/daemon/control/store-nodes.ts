// The stores of one named store's tree, each with its config path (the same
// path the catalog uses as a store id: "CAS.fast_slow.fast") and the tier it
// is part of ("fast" / "slow" below a fast_slow), for stats and ls.
import { childSpecs } from '../../config/store-tree.js';
import type { NamedStoreSpec, StoreSpec } from '../../config/types.js';
import type { StoreManager } from '../../stores/factory.js';
import type { StoreDriver } from '../../stores/store.js';

export interface StoreNode {
  readonly driver: StoreDriver;
  /** Config path below the named store, catalog-style: "CAS", "CAS.verify.backend.fast_slow.fast". */
  readonly path: string;
  /** The role within the parent ("backend", "fast", "index_store"); "" for the named store itself. */
  readonly role: string;
  readonly depth: number;
  /** "fast" or "slow" when below a fast_slow (the nearest one decides), else undefined. */
  readonly tier: 'fast' | 'slow' | undefined;
  /** The node's children in the walk (same order as driver.children()). */
  readonly children: StoreNode[];
}

/** The tree of a named store: drivers paired with their specs (for paths), children in order. */
export function storeTree(stores: StoreManager, named: NamedStoreSpec): StoreNode {
  return build(stores.get(named.name), named.spec, named.name, '', 0, undefined);
}

function build(
  driver: StoreDriver,
  spec: StoreSpec | undefined,
  path: string,
  role: string,
  depth: number,
  tier: 'fast' | 'slow' | undefined,
): StoreNode {
  const drivers = driver.children?.() ?? [];
  const specs = spec !== undefined ? childSpecs(spec) : [];
  const children = drivers.map((child, i) => {
    // The factory builds children in childSpecs order; if a store ever
    // differs, fall back to numbered roles rather than mislabel.
    const match = specs.length === drivers.length ? specs[i] : undefined;
    const childRole = match?.suffix ?? `child${i}`;
    const childTier = spec?.kind === 'fast_slow' && match !== undefined ? (childRole as 'fast' | 'slow') : tier;
    return build(child, match?.spec, `${path}.${driver.kind}.${childRole}`, childRole, depth + 1, childTier);
  });
  return { driver, path, role, depth, tier, children };
}

/** Every node of a tree, root first. */
export function* flatten(node: StoreNode): Generator<StoreNode> {
  yield node;
  for (const child of node.children) yield* flatten(child);
}

/** The named stores the servers use as CAS and as action cache, each once, in config order. */
export function storesByRole(config: { stores: NamedStoreSpec[]; servers: { services: ServicesLike }[] }): {
  cas: NamedStoreSpec[];
  ac: NamedStoreSpec[];
} {
  const cas = new Set<string>();
  const ac = new Set<string>();
  for (const server of config.servers) {
    const s = server.services;
    for (const e of s.cas ?? []) cas.add(e.cas_store);
    for (const name of Object.values(s.bytestream?.cas_stores ?? {})) cas.add(name);
    for (const e of s.ac ?? []) ac.add(e.ac_store);
  }
  const pick = (names: Set<string>) => config.stores.filter((s) => names.has(s.name));
  return { cas: pick(cas), ac: pick(ac) };
}

/** The store serving `instance` as CAS (or AC), by name. */
export function storeForInstance(
  config: { servers: { services: ServicesLike }[] },
  role: 'cas' | 'ac',
  instance: string,
): string | undefined {
  for (const server of config.servers) {
    const s = server.services;
    if (role === 'ac') {
      const hit = s.ac?.find((e) => e.instance_name === instance);
      if (hit) return hit.ac_store;
    } else {
      const hit = s.cas?.find((e) => e.instance_name === instance);
      if (hit) return hit.cas_store;
      const bs = s.bytestream?.cas_stores?.[instance];
      if (bs !== undefined) return bs;
    }
  }
  return undefined;
}

interface ServicesLike {
  cas?: { instance_name: string; cas_store: string }[];
  ac?: { instance_name: string; ac_store: string }[];
  bytestream?: { cas_stores: Record<string, string> };
}
