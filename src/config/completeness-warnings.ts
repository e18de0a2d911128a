// A shared action cache (one whose results live in a remote store: S3, or
// another REAPI server through a grpc store) can hold results whose outputs
// have left the CAS: a lifecycle rule expired them, a teammate cleared a
// prefix, the cluster evicted them. Served as is, such a result makes
// Bazel fail the build downloading them instead of running the action; a
// completeness_checking store in front answers NOT_FOUND for it instead.
import { bindingsOf, serviceBindings } from './service-bindings.js';
import { childPath, childSpecs, leafStorage } from './store-tree.js';
import type { NamedStoreSpec, NcacheConfig, StoreSpec } from './types.js';

/** Warns about each action cache that is shared through a remote store without a completeness check. */
export function sharedActionCacheWarnings(config: NcacheConfig, out: string[]): void {
  const bindings = serviceBindings(config);
  const reported = new Set<string>();
  for (const ac of bindingsOf(bindings, 'ac')) {
    if (reported.has(ac.store)) continue;
    reported.add(ac.store);
    const index = config.stores.findIndex((s) => s.name === ac.store);
    const named = config.stores[index];
    if (named === undefined) continue;
    const found = valuePath(named.spec, `stores[${index}]`, config.stores, new Set([ac.store]));
    if (found.checked || found.remote === undefined) continue;
    const cas = bindings.find((b) => b.service !== 'worker' && b.holds === 'cas' && b.server === ac.server && b.instance === ac.instance)?.store;
    const casName = JSON.stringify(cas ?? 'YOUR_CAS_STORE');
    out.push(
      `${ac.path}: "${ac.store}" is an action cache shared through ${found.remote}, and it serves results without checking ` +
        'that their outputs are still in the CAS; a result whose outputs have left the shared CAS (a lifecycle rule or a ' +
        "teammate emptied the bucket, the upstream's cache evicted them) makes Bazel fail downloading them instead of running the action. " +
        `Wrap stores[${index}]'s store: { name: ${JSON.stringify(ac.store)}, completeness_checking: { backend: { ${named.spec.kind}: ... }, ` +
        `cas_store: { ref_store: { name: ${casName} } } } } (what ncache init --aws and init --remote write)`,
    );
  }
}

/**
 * Along the stores action results are written to and read from (through
 * ref_stores, not into a cas_store only looked up): whether a
 * completeness_checking store is on the way, and the first remote leaf.
 */
function valuePath(
  spec: StoreSpec,
  path: string,
  stores: NamedStoreSpec[],
  seen: Set<string>,
): { checked: boolean; remote: string | undefined } {
  if (spec.kind === 'completeness_checking') return { checked: true, remote: undefined };
  if (leafStorage(spec) === 'remote') return { checked: false, remote: `${path}.${spec.kind}` };
  if (spec.kind === 'ref_store') {
    const index = stores.findIndex((s) => s.name === spec.name);
    const target = stores[index];
    if (target === undefined || seen.has(spec.name)) return { checked: false, remote: undefined };
    seen.add(spec.name);
    return valuePath(target.spec, `stores[${index}]`, stores, seen);
  }
  let remote: string | undefined;
  for (const child of childSpecs(spec)) {
    if (child.role === 'cas_lookup') continue;
    const below = valuePath(child.spec, childPath(path, spec.kind, child.suffix), stores, seen);
    if (below.checked) return below;
    remote ??= below.remote;
  }
  return { checked: false, remote };
}
