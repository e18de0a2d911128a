// How ncache connects to one endpoint: plaintext for grpc://, TLS for
// grpcs:// through grpc-js credentials (tls_config's CA, or the default roots;
// a client certificate for mTLS), and the channel options its keys ask for.
import { type ChannelCredentials, type ChannelOptions, credentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { UpstreamEndpointSpec } from '../config/types.js';

/** grpc-js's target for an address: "host:port" (grpcs:// defaults to 443). */
export function channelTarget(address: string): string {
  const url = new URL(address);
  const port = url.port !== '' ? url.port : '443';
  return `${url.hostname}:${port}`;
}

export function isTlsAddress(address: string): boolean {
  return address.startsWith('grpcs://');
}

export function endpointCredentials(endpoint: UpstreamEndpointSpec): ChannelCredentials {
  if (!isTlsAddress(endpoint.address)) return credentials.createInsecure();
  const tls = endpoint.tls_config;
  let roots: Buffer | null = null;
  if (tls?.ca_file !== undefined) {
    const ca = readFileSync(tls.ca_file, 'utf8');
    // use_native_roots with a CA file: trust both (Node's bundled roots stand for the native ones).
    roots = Buffer.from(tls.use_native_roots ? [ca, ...rootCertificates].join('\n') : ca);
  }
  const key = tls?.key_file !== undefined ? readFileSync(tls.key_file) : null;
  const cert = tls?.cert_file !== undefined ? readFileSync(tls.cert_file) : null;
  return credentials.createSsl(roots, key, cert);
}

const MIB = 1024 * 1024;

export function endpointChannelOptions(endpoint: UpstreamEndpointSpec): ChannelOptions {
  const options: ChannelOptions = {
    // Each channel its own connection, so connections_per_endpoint means that many TCP connections.
    'grpc.use_local_subchannel_pool': 1,
    // BatchReadBlobs and GetActionResult answers can be large; the batch sizes ncache asks for stay below this.
    'grpc.max_receive_message_length': 64 * MIB,
    'grpc-node.flow_control_window': 4 * MIB,
    // After the upstream was unreachable, try again within seconds (grpc-js waits up to 2 minutes by default),
    // so a cluster that comes back is used again soon; calls fail fast (UNAVAILABLE) while it is down.
    'grpc.initial_reconnect_backoff_ms': 500,
    'grpc.max_reconnect_backoff_ms': 5000,
  };
  if (endpoint.http2_keepalive_interval_s > 0) {
    options['grpc.keepalive_time_ms'] = endpoint.http2_keepalive_interval_s * 1000;
    if (endpoint.http2_keepalive_timeout_s > 0) options['grpc.keepalive_timeout_ms'] = endpoint.http2_keepalive_timeout_s * 1000;
  }
  return options;
}
