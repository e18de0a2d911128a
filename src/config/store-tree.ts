// Walking a store spec tree through the table of store kinds (store-kinds.ts):
// children with their path suffixes and roles, a short shape string
// ("verify > filesystem") for summaries and messages, and the named stores a
// tree refers to.
import { type ChildRole, type LeafStorage, type SpecOf, storeKindRow } from './store-kinds.js';
import type { NamedStoreSpec, StoreKind, StoreSpec } from './types.js';

export interface ChildSpec {
  /** Its path below `<kind>.`: "fast", "stores[0].store". */
  readonly suffix: string;
  readonly spec: StoreSpec;
  readonly role: ChildRole;
}

/** The store specs directly inside `spec`, in the order its store's children() lists them. */
export function childSpecs(spec: StoreSpec): ChildSpec[] {
  return childSpecsOf(spec.kind, spec);
}

function childSpecsOf<K extends StoreKind>(kind: K, spec: SpecOf<K>): ChildSpec[] {
  const row = storeKindRow(kind);
  if (row.role !== 'wrapper' && row.role !== 'split') return [];
  return row.children.flatMap((slot): ChildSpec[] =>
    'field' in slot
      ? [{ suffix: slot.field, spec: slot.read(spec), role: slot.role }]
      : slot.read(spec).map((child, i) => ({ suffix: `${slot.list}[${i}].store`, spec: child, role: slot.role })),
  );
}

/** The config path of a child: "stores[0]" + verify + "backend" -> "stores[0].verify.backend". */
export function childPath(parentPath: string, parentKind: StoreKind, suffix: string): string {
  return `${parentPath}.${parentKind}.${suffix}`;
}

/** Calls `visit` for `spec` and every spec below it, depth first, with dot-paths. */
export function walkSpecs(spec: StoreSpec, path: string, visit: (spec: StoreSpec, path: string) => void): void {
  // Specs from a config that failed validation may have holes; skip them.
  if (typeof spec !== 'object' || spec === null) return;
  visit(spec, path);
  for (const child of childSpecs(spec)) walkSpecs(child.spec, childPath(path, spec.kind, child.suffix), visit);
}

/** Where a leaf kind keeps its values; undefined for kinds with children and for ref_store. */
export function leafStorage(spec: StoreSpec): LeafStorage | undefined {
  const row = storeKindRow(spec.kind);
  return row.role === 'leaf' ? row.storage : undefined;
}

/** Names of the top-level stores a spec refers to through ref_store, anywhere in its tree, depth first. */
export function referencedStoreNames(spec: StoreSpec): string[] {
  const names: string[] = [];
  walkSpecs(spec, '', (s) => {
    if (s.kind === 'ref_store') names.push(s.name);
  });
  return names;
}

/** Follows ref_stores to the spec they name (undefined for a dangling or looping reference). */
export function resolveRef(spec: StoreSpec, stores: NamedStoreSpec[], seen: Set<string> = new Set()): StoreSpec | undefined {
  if (spec.kind !== 'ref_store') return spec;
  if (seen.has(spec.name)) return undefined;
  seen.add(spec.name);
  const target = stores.find((s) => s.name === spec.name);
  return target ? resolveRef(target.spec, stores, seen) : undefined;
}

/** "verify > dedup(fast_slow(memory, s3), compression > fast_slow(memory, s3))". */
export function storeShape(spec: StoreSpec): string {
  return shapeOf(spec.kind, spec);
}

function shapeOf<K extends StoreKind>(kind: K, spec: SpecOf<K>): string {
  const row = storeKindRow(kind);
  switch (row.role) {
    case 'leaf':
      return row.label?.(spec) ?? kind;
    case 'reference':
      return row.label(spec);
    case 'wrapper': {
      // A wrapper is drawn through the child holding its values (not a cas_store it only reads).
      const values = childSpecsOf(kind, spec).find((c) => c.role === 'values');
      return values === undefined ? kind : `${kind} > ${storeShape(values.spec)}`;
    }
    case 'split':
      return `${kind}(${childSpecsOf(kind, spec)
        .map((c) => storeShape(c.spec))
        .join(', ')})`;
  }
}
