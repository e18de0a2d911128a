// The one line `ncache validate` prints for a good config.
import { storeShape } from './store-tree.js';
import type { NcacheConfig, ServerSpec } from './types.js';

/**
 * e.g. `stores: CAS = verify > filesystem, AC = completeness_checking > filesystem;
 * servers: 127.0.0.1:50051 (cas, ac, bytestream, capabilities, health; instance "")`.
 */
export function summarizeConfig(config: NcacheConfig): string {
  const parts = [`stores: ${config.stores.map((s) => `${s.name} = ${storeShape(s.spec)}`).join(', ') || 'none'}`];
  if (config.schedulers.length > 0) parts.push(`schedulers: ${config.schedulers.map((s) => s.name).join(', ')}`);
  parts.push(`servers: ${config.servers.map(describeServer).join(', ') || 'none'}`);
  if (config.workers.length > 0) parts.push(`workers: ${config.workers.length}`);
  return parts.join('; ');
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
