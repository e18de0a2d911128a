// Where Prometheus scrapes a daemon: one URL per listener that lists
// experimental_prometheus, from the addresses it really listens on (a wildcard
// listener is scraped on loopback from this machine). `serve` and `start`
// print them beside the .bazelrc lines.
import type { NcacheConfig } from './types.js';

export function metricsUrls(config: Pick<NcacheConfig, 'servers'>, addresses: readonly string[]): string[] {
  const urls: string[] = [];
  for (const [i, server] of config.servers.entries()) {
    const prometheus = server.services.experimental_prometheus;
    const address = addresses[i];
    if (prometheus === undefined || address === undefined) continue;
    const reachable = address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
    urls.push(`http${server.listener.http.tls ? 's' : ''}://${reachable}${prometheus.path}`);
  }
  return urls;
}
