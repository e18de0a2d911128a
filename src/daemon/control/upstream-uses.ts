// Where a config connects to another REAPI server: each grpc store (anywhere
// in a store tree) and each grpc scheduler (nested ones included), with what
// uses it; and the `upstreams` control method that probes them
// (upstream-status.ts).
import { walkSpecs } from '../../config/store-tree.js';
import type { NcacheConfig, SchedulerSpec, UpstreamConnectionSpec } from '../../config/types.js';
import type { ControlHandler } from './types.js';
import type { UpstreamUse } from './upstream-status.js';

/** Every grpc store in the config, where it sits and what it serves. */
export function storeUpstreams(config: NcacheConfig): UpstreamUse[] {
  const uses: UpstreamUse[] = [];
  config.stores.forEach((named, i) => {
    walkSpecs(named.spec, `stores[${i}]`, (spec, path) => {
      if (spec.kind !== 'grpc') return;
      uses.push({ usedBy: `store ${named.name} (${spec.store_type})`, configPath: `${path}.grpc`, connection: spec, instanceName: spec.instance_name });
    });
  });
  return uses;
}

/** The grpc schedulers in a scheduler's config, nested ones (cache_lookup, property_modifier) included, with their paths. */
function grpcSchedulers(spec: SchedulerSpec, path: string): { connection: UpstreamConnectionSpec; path: string }[] {
  switch (spec.kind) {
    case 'grpc':
      return [{ connection: spec.connection, path: `${path}.grpc` }];
    case 'cache_lookup':
    case 'property_modifier':
      return grpcSchedulers(spec.scheduler, `${path}.${spec.kind}.scheduler`);
    case 'simple':
      return [];
  }
}

/** Every grpc scheduler, once per instance name an execution service sends it (the name it forwards upstream). */
export function schedulerUpstreams(config: NcacheConfig): UpstreamUse[] {
  return config.schedulers.flatMap(({ name, spec }, i) => {
    const instances = new Set(config.servers.flatMap((s) => (s.services.execution ?? []).filter((e) => e.scheduler === name).map((e) => e.instance_name)));
    return grpcSchedulers(spec, `schedulers[${i}]`).flatMap(({ connection, path }) =>
      [...(instances.size > 0 ? instances : [''])].map((instanceName) => ({ usedBy: `scheduler ${name}`, configPath: path, connection, instanceName })),
    );
  });
}

/** The `upstreams` control method: `ncache status` asks it beside `status` (which `start` polls, so it stays local and instant). */
export const upstreamsMethod: ControlHandler<'upstreams'> = async (_params, ctx) => {
  const uses = [...storeUpstreams(ctx.config), ...schedulerUpstreams(ctx.config)];
  if (uses.length === 0) return { upstreams: [] };
  // The probe's gRPC client (@grpc/grpc-js) loads only when there is an upstream to ask.
  const { probeUpstreams } = await import('./upstream-status.js');
  return { upstreams: await probeUpstreams(uses) };
};
