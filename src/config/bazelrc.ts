// The .bazelrc lines that point Bazel at a daemon: computed from the config
// and the addresses the daemon really listens on, by `serve` when it starts
// and by the daemon's `status` (so `start` can print them for a daemon that
// was already running).
import { bindingsOf, serviceBindings } from './service-bindings.js';
import type { NcacheConfig } from './types.js';

/** The flags a Bazel user needs for the first server that has a CAS and an AC. `addresses`: "HOST:PORT" per servers[] entry. */
export function bazelrcLines(config: NcacheConfig, addresses: readonly string[]): string[] {
  const bindings = serviceBindings(config);
  const acServers = new Set(bindingsOf(bindings, 'ac').map((b) => b.server));
  const cas = bindingsOf(bindings, 'cas').find((b) => acServers.has(b.server));
  const listening = cas === undefined ? undefined : addresses[cas.server];
  if (cas === undefined || listening === undefined) return ['# no server in this config offers both a CAS and an action cache'];
  // Bazel connects to a concrete address: a wildcard listener is reached on loopback.
  const address = listening.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  const lines = [`build --remote_cache=grpc://${address}`];
  if (cas.instance !== '') lines.push(`build --remote_instance_name=${cas.instance}`);
  return lines;
}
