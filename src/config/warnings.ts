// Things a valid config may still get wrong: data that is not durable,
// caches without bounds, a cache the network can reach without a lock, NativeLink
// options ncache accepts but does not act on. `ncache validate` and
// `ncache serve` print these; none stops the daemon.
import { sharedActionCacheWarnings } from './completeness-warnings.js';
import { MAX_CONCURRENT_STREAMS_KEY, isLoopbackHost, listenerKey, parseSocketAddress } from './schema-servers.js';
import { bindingsOf, serviceBindings } from './service-bindings.js';
import { childPath, childSpecs, leafStorage, resolveRef, walkSpecs } from './store-tree.js';
import { innermostScheduler } from './scheduler-tree.js';
import type { NamedStoreSpec, NcacheConfig, SchedulerSpec, ServerSpec, StoreSpec } from './types.js';
import { type WorkerApiTarget, workerApiTarget } from './worker-endpoints.js';

export function collectWarnings(config: NcacheConfig): string[] {
  const out: string[] = [];
  config.stores.forEach((store, i) => storeWarnings(store.spec, `stores[${i}]`, config.stores, out));
  config.servers.forEach((server, i) => serverWarnings(server, `servers[${i}]`, out));
  config.workers.forEach((worker, i) => {
    const target = config.stores.find((s) => s.name === worker.cas_fast_slow_store);
    const resolved = target && resolveRef(target.spec, config.stores);
    if (resolved && resolved.kind !== 'fast_slow') {
      out.push(
        `workers[${i}].local.cas_fast_slow_store: store "${worker.cas_fast_slow_store}" is ${resolved.kind}, not fast_slow; the worker expects a fast_slow store with a filesystem fast tier`,
      );
    }
  });
  executionWarnings(config, out);
  actionCacheWarnings(config, out);
  sharedActionCacheWarnings(config, out);
  if (config.servers.length === 0) out.push('servers: none configured, so the daemon serves nothing');
  return out;
}

function storeWarnings(root: StoreSpec, rootPath: string, stores: NamedStoreSpec[], out: string[]): void {
  walkSpecs(root, rootPath, (spec, path) => {
    const at = `${path}.${spec.kind}`;
    switch (spec.kind) {
      case 'memory':
        if (!spec.eviction_policy || (spec.eviction_policy.max_bytes === 0 && spec.eviction_policy.max_count === 0)) {
          out.push(`${at}: no eviction_policy.max_bytes, so memory use grows without bound`);
        }
        break;
      case 'filesystem':
        if (!spec.eviction_policy || (spec.eviction_policy.max_bytes === 0 && spec.eviction_policy.max_count === 0)) {
          out.push(`${at}: no eviction_policy.max_bytes, so disk use under ${spec.content_path} grows without bound`);
        }
        break;
      case 'existence_cache':
        if (!spec.eviction_policy) out.push(`${at}: no eviction_policy, so the existence cache grows without bound`);
        break;
      case 'fast_slow':
        if (spec.slow_write_mode === 'async' && !isDurable(spec.fast, stores)) {
          out.push(
            `${at}.slow_write_mode: "async" over a ${describeTier(spec.fast, stores)} fast tier is not durable: writes acknowledged before they reach the slow tier are lost if the daemon stops`,
          );
        }
        break;
      case 'experimental_cloud_object_store':
        if (spec.retry.max_retries === 0) {
          out.push(`${at}.retry: max_retries is 0, so one transient S3 error fails the request (e.g. retry: { max_retries: 6, delay: 0.3, jitter: 0.5 })`);
        }
        break;
      case 'grpc':
        if (spec.retry.max_retries === 0) {
          out.push(`${at}.retry: max_retries is 0, so one dropped connection to the upstream fails the request (e.g. retry: { max_retries: 6, delay: 0.3, jitter: 0.5 })`);
        }
        break;
      default:
        break;
    }
  });
}

/**
 * Execution that cannot run anything: an execution service's scheduler built
 * on `simple` that no local worker serves (its actions wait, then fail; one
 * that forwards, `grpc`, needs none), and a worker_api
 * listener no local worker names (ncache takes no remote workers, so nothing
 * would ever connect).
 */
function executionWarnings(config: NcacheConfig, out: string[]): void {
  const targets = config.workers.map((w) => workerApiTarget(config.servers, w)).filter((t): t is WorkerApiTarget => typeof t !== 'string');
  const used = new Set(bindingsOf(serviceBindings(config), 'execution').map((b) => b.scheduler));
  config.schedulers.forEach((s, i) => {
    cacheLookupWarnings(s.spec, `schedulers[${i}]`, config.stores, out);
    // Only a scheduler built on `simple` runs actions here and needs a worker.
    if (innermostScheduler(s.spec, '').spec.kind !== 'simple') return;
    if (!used.has(s.name) || targets.some((t) => t.scheduler === s.name)) return;
    out.push(
      `schedulers[${i}] (${JSON.stringify(s.name)}): no worker serves it, so Execute answers every action sent to it with an error after a short wait; ` +
        `add workers: [{ local: { worker_api_endpoint: { uri: "grpc://127.0.0.1:50061" }, ... } }] and a listener on 127.0.0.1:50061 with services.worker_api: { scheduler: ${JSON.stringify(s.name)} } (ncache init --exec writes both)`,
    );
  });
  config.servers.forEach((server, i) => {
    if (server.services.worker_api === undefined || targets.some((t) => t.server === i)) return;
    out.push(
      `servers[${i}].services.worker_api: no workers[] entry names this listener in its worker_api_endpoint; ncache runs only its own local workers (in process), so remote workers cannot connect here`,
    );
  });
}

/** A cache_lookup whose ac_store does not check completeness answers hits whose outputs may have left the CAS (NativeLink's advice too). */
function cacheLookupWarnings(spec: SchedulerSpec, path: string, stores: NamedStoreSpec[], out: string[]): void {
  let s = spec;
  let at = path;
  while ('scheduler' in s) {
    if (s.kind === 'cache_lookup') {
      const acStore = s.ac_store;
      const named = stores.find((n) => n.name === acStore);
      const resolved = named && resolveRef(named.spec, stores);
      if (resolved && resolved.kind !== 'completeness_checking') {
        out.push(
          `${at}.cache_lookup.ac_store: "${acStore}" is ${resolved.kind}, not completeness_checking, so a cached result whose outputs have left the CAS is answered as a hit and the client fails to fetch them`,
        );
      }
    }
    at = `${at}.${s.kind}.scheduler`;
    s = s.scheduler;
  }
}

/**
 * A verify store checks a value against its key's digest; action-cache values
 * are stored under the action's digest, so behind an AC it rejects every
 * UpdateActionResult.
 */
function actionCacheWarnings(config: NcacheConfig, out: string[]): void {
  const reported = new Set<string>();
  for (const ac of bindingsOf(serviceBindings(config), 'ac')) {
    const index = config.stores.findIndex((s) => s.name === ac.store);
    const named = config.stores[index];
    if (named === undefined || reported.has(ac.store)) continue;
    reported.add(ac.store);
    const verify = findVerifyOnValuePath(named.spec, `stores[${index}]`, config.stores, new Set());
    if (verify) {
      out.push(
        `${ac.path}: "${ac.store}" stores values through a verify store (${verify}), which checks values against their key; action results are keyed by the action's digest, so every UpdateActionResult would be rejected. Use verify on CAS stores only`,
      );
    }
  }
}

/** The path of a verify store that checks size or hash on the way to where values are written, if any. */
function findVerifyOnValuePath(spec: StoreSpec, path: string, stores: NamedStoreSpec[], seen: Set<string>): string | undefined {
  if (spec.kind === 'verify' && (spec.verify_size || spec.verify_hash)) return `${path}.verify`;
  if (spec.kind === 'ref_store') {
    if (seen.has(spec.name)) return undefined;
    seen.add(spec.name);
    const index = stores.findIndex((s) => s.name === spec.name);
    return index < 0 ? undefined : findVerifyOnValuePath(stores[index]!.spec, `stores[${index}]`, stores, seen);
  }
  for (const child of childSpecs(spec)) {
    // completeness_checking only reads its cas_store; values go to its backend.
    if (child.role === 'cas_lookup') continue;
    const found = findVerifyOnValuePath(child.spec, childPath(path, spec.kind, child.suffix), stores, seen);
    if (found) return found;
  }
  return undefined;
}

/** Whether data written to `spec` survives a daemon restart. */
function isDurable(spec: StoreSpec, stores: NamedStoreSpec[]): boolean {
  const resolved = resolveRef(spec, stores);
  if (!resolved) return false;
  const storage = leafStorage(resolved);
  if (storage !== undefined) return storage === 'disk' || storage === 'remote';
  // Durable when every child that holds its values is (not a cas_store it only reads).
  return childSpecs(resolved)
    .filter((c) => c.role !== 'cas_lookup')
    .every((c) => isDurable(c.spec, stores));
}

function describeTier(spec: StoreSpec, stores: NamedStoreSpec[]): string {
  return resolveRef(spec, stores)?.kind ?? spec.kind;
}

const NOT_SERVED = ['admin', 'fetch', 'push', 'experimental_bep'] as const;

function serverWarnings(server: NcacheConfig['servers'][number], path: string, out: string[]): void {
  const http = server.listener.http;
  const exposed = exposureWarning(http, `${path}.listener.${listenerKey(server)}`);
  if (exposed !== undefined) out.push(exposed);
  if (http.compression && (http.compression.send_compression_algorithm !== 'none' || http.compression.accepted_compression_algorithms.some((a) => a !== 'none'))) {
    out.push(`${path}.listener.http.compression: not applied; ncache does not compress the gRPC transport`);
  }
  const unapplied = Object.keys(http.advanced_http ?? {}).filter((key) => key !== MAX_CONCURRENT_STREAMS_KEY);
  if (unapplied.length > 0) out.push(`${path}.listener.http.advanced_http: not applied by ncache (${unapplied.join(', ')})`);
  const s = server.services;
  for (const name of NOT_SERVED) {
    if (s[name] !== undefined) out.push(`${path}.services.${name}: accepted for NativeLink compatibility, but ncache does not serve it`);
  }
  const served = Object.keys(s).filter((k) => !(NOT_SERVED as readonly string[]).includes(k));
  if (served.length === 0) out.push(`${path}.services: none that ncache serves, so this listener is useless`);
  // Bazel's HTTP cache protocol needs neither: blobs move in the request bodies.
  if (server.listener.protocol === 'http_cache') return;
  if ((s.cas?.length ?? 0) > 0 && !s.capabilities) {
    out.push(`${path}.services: has cas but no capabilities; Bazel calls GetCapabilities first and will refuse this server`);
  }
  if ((s.cas?.length ?? 0) > 0 && !s.bytestream) {
    out.push(`${path}.services: has cas but no bytestream; Bazel moves blobs through ByteStream and will fail`);
  }
}

/**
 * A listener other machines can reach: who may call it (a token, or a client
 * certificate under mTLS), and whether its tokens can be read on the way.
 */
function exposureWarning(http: ServerSpec['listener']['http'], at: string): string | undefined {
  const address = parseSocketAddress(http.socket_address);
  if (typeof address === 'string' || isLoopbackHost(address.host)) return undefined;
  const reachable = `${at}.socket_address: ${http.socket_address} is reachable from other machines`;
  const addAuth = 'Add listener.http.auth with a tokens file (ncache init --aws --listen writes one)';
  if (http.auth === undefined && http.tls === undefined) {
    return `${reachable}, with no TLS or authentication; anyone who can connect can read and write this cache. ${addAuth}, or listen on 127.0.0.1`;
  }
  if (http.auth === undefined && http.tls?.client_ca_file === undefined) {
    return `${reachable} over TLS but asks for no client certificate (tls.client_ca_file) or token; anyone who can connect can read and write this cache. ${addAuth}`;
  }
  if (http.auth !== undefined && http.tls === undefined) {
    return `${reachable} without TLS: the bearer tokens of ${at}.auth cross the network unencrypted, so anyone who can watch it can take one`;
  }
  return undefined;
}
