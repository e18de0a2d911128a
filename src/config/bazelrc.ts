// The .bazelrc lines that point Bazel at a daemon: computed from the config
// and the addresses the daemon really listens on, by `serve` when it starts
// and by the daemon's `status` (so `start` can print them for a daemon that
// was already running).
import type { NcacheConfig } from './types.js';

/** The flags a Bazel user needs for the first server that has a CAS and an AC. `addresses`: "HOST:PORT" per servers[] entry. */
export function bazelrcLines(config: NcacheConfig, addresses: readonly string[]): string[] {
  const index = config.servers.findIndex((s) => (s.services.cas?.length ?? 0) > 0 && (s.services.ac?.length ?? 0) > 0);
  if (index < 0 || addresses[index] === undefined) return ['# no server in this config offers both a CAS and an action cache'];
  // Bazel connects to a concrete address: a wildcard listener is reached on loopback.
  const address = addresses[index]!.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  const lines = [`build --remote_cache=grpc://${address}`];
  const instance = config.servers[index]!.services.cas![0]!.instance_name;
  if (instance !== '') lines.push(`build --remote_instance_name=${instance}`);
  return lines;
}
