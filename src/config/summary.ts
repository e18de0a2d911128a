// The one line `ncache validate` prints for a good config.
import { innermostScheduler, schedulerKinds } from './scheduler-tree.js';
import { storeShape } from './store-tree.js';
import type { NcacheConfig, ServerSpec } from './types.js';

/**
 * e.g. `stores: CAS = verify > filesystem, AC = completeness_checking > filesystem;
 * servers: 127.0.0.1:50051 (cas, ac, bytestream, capabilities, health; instance "")`.
 */
export function summarizeConfig(config: NcacheConfig): string {
  const parts = [`stores: ${config.stores.map((s) => `${s.name} = ${storeShape(s.spec)}`).join(', ') || 'none'}`];
  if (config.schedulers.length > 0) parts.push(`schedulers: ${config.schedulers.map(describeScheduler).join(', ')}`);
  parts.push(`servers: ${config.servers.map(describeServer).join(', ') || 'none'}`);
  if (config.workers.length > 0) parts.push(`workers: ${config.workers.length}`);
  return parts.join('; ');
}

/** "MAIN" for a plain simple scheduler, else its nesting and where a grpc one forwards: "MAIN = cache_lookup > grpc grpc://c:8980". */
function describeScheduler(s: NcacheConfig['schedulers'][number]): string {
  const kinds = schedulerKinds(s.spec);
  if (kinds.length === 1 && kinds[0] === 'simple') return s.name;
  const inner = innermostScheduler(s.spec, '').spec;
  const where = inner.kind === 'grpc' ? ` ${inner.connection.endpoints.map((e) => e.address).join(', ')}` : '';
  return `${s.name} = ${kinds.join(' > ')}${where}`;
}

function describeServer(server: ServerSpec): string {
  const s = server.services;
  const names = Object.keys(s).filter((k) => s[k as keyof typeof s] !== undefined);
  const instances = new Set<string>();
  for (const list of [s.cas, s.ac, s.execution, s.capabilities, s.fetch, s.push]) {
    for (const entry of list ?? []) instances.add(entry.instance_name);
  }
  for (const name of Object.keys(s.bytestream?.cas_stores ?? {})) instances.add(name);
  const instanceText =
    instances.size === 0 ? '' : `; ${instances.size === 1 ? 'instance' : 'instances'} ${[...instances].map((i) => JSON.stringify(i)).join(', ')}`;
  return `${server.listener.http.socket_address} (${names.join(', ') || 'no services'}${instanceText})`;
}
