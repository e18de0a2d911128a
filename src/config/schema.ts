// The top level of a NativeLink-format config: stores, schedulers, servers,
// workers, global. Reads an already-parsed (and env-expanded) value into the
// normalized NcacheConfig, recording every problem in ctx.issues.
import type { GlobalSpec, NamedSchedulerSpec, NamedStoreSpec, NcacheConfig } from './types.js';
import {
  array,
  bool,
  describe,
  int,
  isPlainObject,
  issue,
  joinIndex,
  joinKey,
  object,
  readValue,
  size,
  type Fields,
  type ReadContext,
  type Reader,
} from './reader.js';
import { namedStore, storeSpec } from './schema-stores.js';
import { listenerKey, server } from './schema-servers.js';
import { namedScheduler, schedulerBody, worker } from './schema-execution.js';
import { checkReferences, reportDuplicateNames, type Defined } from './references.js';
import { walkSpecs } from './store-tree.js';
import { checkWorkerEndpoints } from './worker-endpoints.js';

export { summarizeConfig } from './summary.js';
export { collectWarnings } from './warnings.js';

export const GLOBAL_DEFAULTS: GlobalSpec = {
  max_open_files: 512,
  default_digest_hash_function: 'sha256',
  default_digest_size_health_check: 1024 * 1024,
};

/** Reads the whole config. The result is only meaningful when ctx.issues is empty. */
export function readConfig(ctx: ReadContext, raw: unknown, source: string): NcacheConfig | undefined {
  if (!isPlainObject(raw)) {
    return issue(ctx, '', `the config must be an object like { stores: [...], servers: [...] }, got ${describe(raw)}`);
  }
  return object<NcacheConfig>((f) => {
    f.reject('experimental_origin_events', 'experimental_origin_events is not supported by ncache; remove it');
    const stores = f.req('stores', storeList, 'an array of { name, <kind>: {...} }');
    const schedulers = f.opt('schedulers', schedulerList, []);
    const servers = f.req('servers', serverList, 'an array of servers');
    const workers = f.opt('workers', array(worker), []);
    const global = f.opt('global', globalSpec, { ...GLOBAL_DEFAULTS });
    checkReferences(ctx, definedNames(stores), definedNames(schedulers));
    checkListenerClashes(f, servers ?? []);
    checkWorkerEndpoints(f.ctx, servers ?? [], workers ?? [], schedulers ?? []);
    checkFilesystemPaths(f, stores ?? []);
    return { stores, schedulers, servers, workers, global, source };
  })(ctx, raw, '');
}

/** The names that were read; an entry whose name failed to read (already reported) is partial and has none. */
function definedNames(entries: readonly ({ name?: unknown } | undefined)[] | undefined): string[] {
  return (entries ?? []).flatMap((e) => (typeof e?.name === 'string' ? [e.name] : []));
}

/** `stores` as an array (current NativeLink) or a map of name -> spec (older NativeLink). */
const storeList: Reader<NamedStoreSpec[]> = (ctx, value, path) => {
  if (Array.isArray(value)) {
    const out: NamedStoreSpec[] = [];
    const defs: Defined[] = [];
    value.forEach((v, i) => {
      const p = joinIndex(path, i);
      const s = readValue(ctx, v, p, namedStore);
      if (s) {
        out.push(s);
        if (typeof s.name === 'string') defs.push({ name: s.name, path: joinKey(p, 'name') });
      }
    });
    reportDuplicateNames(ctx, 'store', defs);
    return out;
  }
  if (isPlainObject(value)) {
    return Object.entries(value).map(([name, v]) => {
      ctx.currentStore = name;
      try {
        return { name, spec: readValue(ctx, v, joinKey(path, name), storeSpec)! };
      } finally {
        ctx.currentStore = undefined;
      }
    });
  }
  return issue(ctx, path, `expected an array of stores like [{ name: "CAS", memory: {} }], got ${describe(value)}`);
};

const schedulerList: Reader<NamedSchedulerSpec[]> = (ctx, value, path) => {
  if (Array.isArray(value)) {
    const out: NamedSchedulerSpec[] = [];
    const defs: Defined[] = [];
    value.forEach((v, i) => {
      const p = joinIndex(path, i);
      const s = readValue(ctx, v, p, namedScheduler);
      if (s) {
        out.push(s);
        if (typeof s.name === 'string') defs.push({ name: s.name, path: joinKey(p, 'name') });
      }
    });
    reportDuplicateNames(ctx, 'scheduler', defs);
    return out;
  }
  if (isPlainObject(value)) {
    return Object.entries(value).map(([name, v]) => readValue(ctx, v, joinKey(path, name), schedulerBody(name))!);
  }
  return issue(ctx, path, `expected an array of schedulers like [{ name: "MAIN", simple: {} }], got ${describe(value)}`);
};

const serverList: Reader<NcacheConfig['servers']> = (ctx, value, path) => {
  if (!Array.isArray(value)) return issue(ctx, path, `expected an array of servers, got ${describe(value)}`);
  return value.map((v, i) => readValue(ctx, v, joinIndex(path, i), server(i))!);
};

const hashFunction: Reader<'sha256'> = (ctx, value, path) => {
  if (value === 'sha256') return 'sha256';
  if (value === 'blake3') return issue(ctx, path, 'blake3 is not supported by ncache (only "sha256")');
  return issue(ctx, path, `expected "sha256", got ${describe(value)}`);
};

const globalSpec = object<GlobalSpec>((f) => {
  const out: GlobalSpec = {
    max_open_files: f.opt('max_open_files', int({ min: 1 }), GLOBAL_DEFAULTS.max_open_files),
    default_digest_hash_function: f.opt('default_digest_hash_function', hashFunction, 'sha256'),
    default_digest_size_health_check: f.opt('default_digest_size_health_check', size({ min: 1 }), GLOBAL_DEFAULTS.default_digest_size_health_check),
  };
  const idle = f.maybe('idle_file_descriptor_timeout_millis', int());
  if (idle !== undefined) out.idle_file_descriptor_timeout_millis = idle;
  const noMetrics = f.maybe('disable_metrics', bool);
  if (noMetrics !== undefined) out.disable_metrics = noMetrics;
  return out;
});

/** Two servers cannot listen on the same fixed address. */
function checkListenerClashes(f: Fields, servers: NcacheConfig['servers']): void {
  const seen = new Map<string, number>();
  servers.forEach((s, i) => {
    const address = s?.listener?.http?.socket_address;
    if (typeof address !== 'string' || address.endsWith(':0')) return;
    const first = seen.get(address);
    if (first !== undefined) {
      issue(f.ctx, `servers[${i}].listener.${listenerKey(s)}.socket_address`, `${address} is already used by servers[${first}]`);
    } else seen.set(address, i);
  });
}

/**
 * Two filesystem stores sharing a directory would evict and clean up each
 * other's files, so every content_path and temp_path must be distinct.
 */
function checkFilesystemPaths(f: Fields, stores: NamedStoreSpec[]): void {
  const owners = new Map<string, string>();
  stores.forEach((store, i) => {
    if (!store?.spec) return;
    walkSpecs(store.spec, `stores[${i}]`, (spec, path) => {
      if (spec.kind !== 'filesystem') return;
      for (const key of ['content_path', 'temp_path'] as const) {
        const dir = spec[key];
        if (typeof dir !== 'string') continue;
        const here = `${path}.filesystem.${key}`;
        const first = owners.get(dir);
        if (first !== undefined) issue(f.ctx, here, `${JSON.stringify(dir)} is already used by ${first}; each filesystem store needs its own directories`);
        else owners.set(dir, here);
      }
    });
  });
}
