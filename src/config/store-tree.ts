// Walking a store spec tree: children with their path suffixes, and a short
// shape string ("verify > filesystem") for summaries and messages.
import type { NamedStoreSpec, StoreSpec } from './types.js';

/** The store specs directly inside `spec`, each with its path below `<kind>.` ("fast", "stores[0].store"). */
export function childSpecs(spec: StoreSpec): { suffix: string; spec: StoreSpec }[] {
  switch (spec.kind) {
    case 'fast_slow':
      return [
        { suffix: 'fast', spec: spec.fast },
        { suffix: 'slow', spec: spec.slow },
      ];
    case 'verify':
    case 'existence_cache':
    case 'compression':
      return [{ suffix: 'backend', spec: spec.backend }];
    case 'size_partitioning':
      return [
        { suffix: 'lower_store', spec: spec.lower_store },
        { suffix: 'upper_store', spec: spec.upper_store },
      ];
    case 'completeness_checking':
      return [
        { suffix: 'backend', spec: spec.backend },
        { suffix: 'cas_store', spec: spec.cas_store },
      ];
    case 'shard':
      return (spec.stores ?? []).map((s, i) => ({ suffix: `stores[${i}].store`, spec: s?.store }));
    case 'dedup':
      return [
        { suffix: 'index_store', spec: spec.index_store },
        { suffix: 'content_store', spec: spec.content_store },
      ];
    case 'memory':
    case 'filesystem':
    case 'noop':
    case 'ref_store':
    case 'experimental_cloud_object_store':
      return [];
  }
}

/** Calls `visit` for `spec` and every spec below it, depth first, with dot-paths. */
export function walkSpecs(spec: StoreSpec, path: string, visit: (spec: StoreSpec, path: string) => void): void {
  // Specs from a config that failed validation may have holes; skip them.
  if (typeof spec !== 'object' || spec === null) return;
  visit(spec, path);
  for (const child of childSpecs(spec)) walkSpecs(child.spec, `${path}.${spec.kind}.${child.suffix}`, visit);
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
  switch (spec.kind) {
    case 'verify':
    case 'existence_cache':
    case 'compression':
      return `${spec.kind} > ${storeShape(spec.backend)}`;
    case 'completeness_checking':
      return `${spec.kind} > ${storeShape(spec.backend)}`;
    case 'fast_slow':
      return `fast_slow(${storeShape(spec.fast)}, ${storeShape(spec.slow)})`;
    case 'dedup':
      return `dedup(${storeShape(spec.index_store)}, ${storeShape(spec.content_store)})`;
    case 'size_partitioning':
      return `size_partitioning(${storeShape(spec.lower_store)}, ${storeShape(spec.upper_store)})`;
    case 'shard':
      return `shard(${spec.stores.map((s) => storeShape(s.store)).join(', ')})`;
    case 'ref_store':
      return `ref ${spec.name}`;
    case 'experimental_cloud_object_store':
      return 's3';
    case 'memory':
    case 'filesystem':
    case 'noop':
      return spec.kind;
  }
}
