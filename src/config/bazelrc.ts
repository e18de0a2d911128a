// What a client needs to reach a daemon: the URL of each listener (grpcs://
// for a TLS one, http:// for Bazel's HTTP cache protocol) and the .bazelrc lines that point Bazel at it, computed from
// the config and the addresses the daemon really listens on, by `serve` when
// it starts and by the daemon's `status` (so `start` can print them for a
// daemon that was already running).
import { type ServerBinding, type ServiceBinding, bindingsOf, serviceBindings } from './service-bindings.js';
import type { ListenerTlsSpec, NcacheConfig, ServerSpec } from './types.js';

/** The URL of a listener at `address` ("HOST:PORT"): grpc:// or http:// (Bazel's HTTP cache protocol), with an s for TLS. */
export function clientUrl(server: ServerSpec | undefined, address: string): string {
  const scheme = server?.listener.protocol === 'http_cache' ? 'http' : 'grpc';
  return `${scheme}${server?.listener.http.tls ? 's' : ''}://${address}`;
}

/** clientUrl for each servers[] entry; `addresses`: "HOST:PORT" per entry. */
export function clientUrls(config: NcacheConfig, addresses: readonly string[]): string[] {
  return addresses.map((address, i) => clientUrl(config.servers[i], address));
}

/**
 * The flags a Bazel user needs: for the first gRPC server that has a CAS and
 * an AC (else the first http_cache one), then, commented, the other protocol's
 * URL as an alternative. A gRPC server that also executes actions for the
 * instance adds --remote_executor. `addresses`: "HOST:PORT" per servers[] entry.
 */
export function bazelrcLines(config: NcacheConfig, addresses: readonly string[]): string[] {
  const bindings = serviceBindings(config);
  const acServers = new Set(bindingsOf(bindings, 'ac').map((b) => b.server));
  const caches = bindingsOf(bindings, 'cas').filter((b) => acServers.has(b.server) && addresses[b.server] !== undefined);
  const isHttp = (b: ServerBinding) => config.servers[b.server]?.listener.protocol === 'http_cache';
  const grpc = caches.find((b) => !isHttp(b));
  const http = caches.find(isHttp);
  const first = grpc ?? http;
  if (first === undefined) return ['# no server in this config offers both a CAS and an action cache'];
  const lines = serverLines(config, bindings, first, addresses);
  if (grpc !== undefined && http !== undefined) {
    lines.push("# or over Bazel's HTTP/1.1 cache protocol instead:", ...serverLines(config, bindings, http, addresses).map((line) => line.startsWith('#') ? line : `# ${line}`));
  }
  return lines;
}

/** The lines pointing Bazel at the server of `cas`. */
function serverLines(config: NcacheConfig, bindings: readonly ServiceBinding[], cas: ServerBinding, addresses: readonly string[]): string[] {
  // Bazel connects to a concrete address: a wildcard listener is reached on loopback.
  const address = (addresses[cas.server] ?? '').replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  const server = config.servers[cas.server];
  const lines: string[] = [];
  const url = clientUrl(server, address);
  if (server?.listener.protocol === 'http_cache') {
    // Over HTTP the instance is the URL's path prefix (/<instance>/cas/<hash>).
    lines.push(`build --remote_cache=${url}${cas.instance === '' ? '' : `/${cas.instance}`}`);
  } else {
    lines.push(`build --remote_cache=${url}`);
    const executes = bindingsOf(bindings, 'execution').some((b) => b.server === cas.server && b.instance === cas.instance);
    if (executes) lines.push(`build --remote_executor=${url}`);
    if (cas.instance !== '') lines.push(`build --remote_instance_name=${cas.instance}`);
  }
  const tls = server?.listener.http.tls;
  if (tls) lines.push(...tlsLines(tls));
  const auth = server?.listener.http.auth;
  if (auth) {
    // The token is the user's to copy: never printed here, and kept out of shared bazelrc files.
    lines.push(`# in a user-private bazelrc, with a token from ${auth.tokens_file}:`, '# build --remote_header=authorization=Bearer <token>');
  }
  return lines;
}

/** Files only the user has (a CA Bazel should trust, a client's certificate): commented, to fill in. */
function tlsLines(tls: ListenerTlsSpec): string[] {
  const lines = [
    `# unless a CA the JVM trusts signed ${tls.cert_file}, give Bazel the CA that did:`,
    '# build --tls_certificate=<CA certificate, PEM>',
  ];
  if (tls.client_ca_file !== undefined) {
    lines.push(
      `# mTLS: this client's certificate, signed by a CA in ${tls.client_ca_file}, and its key (PKCS#8 PEM):`,
      '# build --tls_client_certificate=<client certificate, PEM>',
      '# build --tls_client_key=<client private key, PEM>',
    );
  }
  return lines;
}
