// Which named store each service uses, for which instance name and in which
// role: the one reading of `servers[].services` that the daemon (to wire its
// gRPC services), ls, get, gc, verify and status share, so they cannot
// disagree about which stores hold CAS blobs and which action results.
// Execution's own users of stores (scheduler, workers) are further services
// here: callers ask by `holds` or by server and service, never by field name.
import type { LocalWorkerSpec, NcacheConfig, ServerSpec } from './types.js';

/** What a store keeps for the service using it. */
export type HeldValues = 'cas' | 'ac';

interface StoreUse {
  /** The named store (config `stores[].name`). */
  readonly store: string;
  /** The config field it came from, for messages: "servers[0].services.cas[1].cas_store". */
  readonly path: string;
}

interface BindingBase extends StoreUse {
  readonly instance: string;
  /** Index in `servers[]`. */
  readonly server: number;
}

export type ServiceBinding =
  | (BindingBase & { readonly service: 'cas'; readonly holds: 'cas' })
  | (BindingBase & { readonly service: 'bytestream'; readonly holds: 'cas' })
  | (BindingBase & { readonly service: 'ac'; readonly holds: 'ac'; readonly readOnly: boolean })
  | (BindingBase & { readonly service: 'execution'; readonly holds: 'cas'; readonly scheduler: string })
  /**
   * A local worker: its `cas_fast_slow_store` holds the CAS blobs it reads and
   * writes, its `upload_action_result.ac_store` the results it stores. It
   * serves no instance of its own, so instance lookups never pick it.
   */
  | (StoreUse & { readonly service: 'worker'; readonly holds: HeldValues; readonly worker: number; readonly instance?: never; readonly server?: never });

export type ServiceName = ServiceBinding['service'];

/** A binding of a gRPC service on one of `servers[]` (every kind but the workers'). */
export type ServerBinding = Exclude<ServiceBinding, { service: 'worker' }>;

/**
 * Every store binding of every server, in config order; within a server cas,
 * bytestream, ac, execution (so the first CAS binding of an instance is its
 * `cas` entry, as the services resolve it); then the workers' stores.
 */
export function serviceBindings(config: Pick<NcacheConfig, 'servers'> & Partial<Pick<NcacheConfig, 'workers'>>): ServiceBinding[] {
  return [...config.servers.flatMap((server, index) => serverBindings(server, index)), ...workerBindings(config.workers ?? [])];
}

/** The stores of `workers[]`: CAS for each worker, then its action cache when it has one. */
export function workerBindings(workers: readonly LocalWorkerSpec[]): ServiceBinding[] {
  return workers.flatMap((w, i): ServiceBinding[] => {
    const at = `workers[${i}].local`;
    const out: ServiceBinding[] = [{ service: 'worker', holds: 'cas', store: w.cas_fast_slow_store, worker: i, path: `${at}.cas_fast_slow_store` }];
    const ac = w.upload_action_result.ac_store;
    if (ac !== undefined) out.push({ service: 'worker', holds: 'ac', store: ac, worker: i, path: `${at}.upload_action_result.ac_store` });
    return out;
  });
}

/** The bindings of `servers[index]`, in the order serviceBindings lists them. */
export function serverBindings(server: ServerSpec, index: number): ServerBinding[] {
  const out: ServerBinding[] = [];
  const s = server.services;
  const at = `servers[${index}].services`;
  s.cas?.forEach((e, i) =>
    out.push({ service: 'cas', holds: 'cas', store: e.cas_store, instance: e.instance_name, server: index, path: `${at}.cas[${i}].cas_store` }),
  );
  for (const [instance, store] of Object.entries(s.bytestream?.cas_stores ?? {})) {
    out.push({ service: 'bytestream', holds: 'cas', store, instance, server: index, path: `${at}.bytestream.cas_stores[${JSON.stringify(instance)}]` });
  }
  s.ac?.forEach((e, i) =>
    out.push({
      service: 'ac',
      holds: 'ac',
      store: e.ac_store,
      instance: e.instance_name,
      readOnly: e.read_only,
      server: index,
      path: `${at}.ac[${i}].ac_store`,
    }),
  );
  s.execution?.forEach((e, i) =>
    out.push({
      service: 'execution',
      holds: 'cas',
      store: e.cas_store,
      instance: e.instance_name,
      scheduler: e.scheduler,
      server: index,
      path: `${at}.execution[${i}].cas_store`,
    }),
  );
  return out;
}

/** The bindings of one service. */
export function bindingsOf<S extends ServiceName>(bindings: readonly ServiceBinding[], service: S): Extract<ServiceBinding, { service: S }>[] {
  return bindings.filter((b): b is Extract<ServiceBinding, { service: S }> => b.service === service);
}

/** Names of the stores holding CAS blobs (or action results) for any service, each once, in binding order. */
export function storesHolding(bindings: readonly ServiceBinding[], holds: HeldValues): string[] {
  return [...new Set(bindings.filter((b) => b.holds === holds).map((b) => b.store))];
}

/** The store holding `holds` values for `instance`: the first binding that says so. */
export function storeForInstance(bindings: readonly ServiceBinding[], holds: HeldValues, instance: string): string | undefined {
  return bindings.find((b) => b.service !== 'worker' && b.holds === holds && b.instance === instance)?.store;
}
