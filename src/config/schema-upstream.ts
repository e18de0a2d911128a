// The connection to an upstream REAPI server, as NativeLink writes it in its
// `grpc` store and `grpc` scheduler: endpoints (`GrpcEndpoint`: address,
// tls_config, concurrency_limit, keepalives), retry, max_concurrent_requests,
// connections_per_endpoint, rpc_timeout_s, headers; plus ncache's token_file.
// Both readers use these pieces, so the two configs accept the same keys.
import { readFileSync, statSync } from 'node:fs';
import type { UpstreamConnectionSpec, UpstreamEndpointSpec, UpstreamTlsSpec } from './types.js';
import { RETRY_DEFAULTS, retry } from './schema-retry.js';
import {
  array,
  bool,
  describe,
  duration,
  type Fields,
  fsPath,
  int,
  issue,
  object,
  type Reader,
  record,
  str,
} from './reader.js';
import { errorMessage } from '../util/errors.js';

/** NativeLink's defaults for the shared keys. */
export const UPSTREAM_DEFAULTS = { max_concurrent_requests: 0, connections_per_endpoint: 1, rpc_timeout_s: 0 };

const ADDRESS_EXAMPLE = 'grpc://10.0.0.5:8980 or grpcs://cache.example.com';

/** "grpc://host:port" or "grpcs://host[:port]" (443 by default), nothing after the port. */
export const upstreamAddress: Reader<string> = (ctx, value, path) => {
  const text = str({ nonEmpty: true })(ctx, value, path);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return issue(ctx, path, `expected an address like ${ADDRESS_EXAMPLE}, got ${describe(value)}`);
  }
  if (url.protocol !== 'grpc:' && url.protocol !== 'grpcs:') {
    return issue(ctx, path, `expected a grpc:// or grpcs:// address like ${ADDRESS_EXAMPLE}, got ${describe(value)}`);
  }
  if (url.hostname === '') return issue(ctx, path, `expected a host in ${describe(value)}`);
  if (url.protocol === 'grpc:' && url.port === '') return issue(ctx, path, `a grpc:// address needs a port, got ${describe(value)}`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.username !== '') {
    return issue(ctx, path, `expected only scheme, host and port, got ${describe(value)}`);
  }
  return text;
};

/** A file that must exist now (a certificate, a key): reported at load, not at the first call. */
const existingFile: Reader<string> = (ctx, value, path) => {
  const file = fsPath(ctx, value, path);
  if (file === undefined) return undefined;
  try {
    if (!statSync(file).isFile()) return issue(ctx, path, `${file} is not a regular file`);
  } catch (err) {
    return issue(ctx, path, `cannot read ${file}: ${errorMessage(err)}`);
  }
  return file;
};

const tlsConfig: Reader<UpstreamTlsSpec> = object<UpstreamTlsSpec>((f) => {
  const spec: UpstreamTlsSpec = { use_native_roots: f.opt('use_native_roots', bool, false) };
  const ca = f.maybe('ca_file', existingFile);
  const cert = f.maybe('cert_file', existingFile);
  const key = f.maybe('key_file', existingFile);
  if (ca !== undefined) spec.ca_file = ca;
  if (cert !== undefined) spec.cert_file = cert;
  if (key !== undefined) spec.key_file = key;
  if (f.has('cert_file') !== f.has('key_file')) {
    const missing = f.has('cert_file') ? 'key_file' : 'cert_file';
    issue(f.ctx, f.at(missing), 'a client certificate needs both cert_file and key_file');
  }
  return spec;
});

/** One NativeLink `GrpcEndpoint`. */
export const upstreamEndpoint: Reader<UpstreamEndpointSpec> = object<UpstreamEndpointSpec>((f) => {
  const address = f.req('address', upstreamAddress, `an address like ${ADDRESS_EXAMPLE}`);
  const spec: UpstreamEndpointSpec = {
    address,
    concurrency_limit: f.opt('concurrency_limit', int(), 0),
    http2_keepalive_interval_s: f.opt('http2_keepalive_interval_s', duration(), 0),
    http2_keepalive_timeout_s: f.opt('http2_keepalive_timeout_s', duration(), 0),
  };
  const tls = f.maybe('tls_config', tlsConfig);
  if (tls !== undefined) {
    spec.tls_config = tls;
    if (address?.startsWith('grpc://')) {
      issue(f.ctx, f.at('tls_config'), `tls_config needs a grpcs:// address, but address is ${address}`);
    }
  }
  // Accepted without effect: grpc-js has no TCP connect timeout or TCP keepalive knob per channel.
  f.allow('connect_timeout_s', 'tcp_keepalive_s');
  return spec;
});

/** The token file must hold a token now; the channel re-reads it when it changes. */
const tokenFile: Reader<string> = (ctx, value, path) => {
  const file = existingFile(ctx, value, path);
  if (file === undefined) return undefined;
  try {
    if (readFileSync(file, 'utf8').trim() === '') return issue(ctx, path, `${file} is empty (expected a bearer token)`);
  } catch (err) {
    return issue(ctx, path, `cannot read ${file}: ${errorMessage(err)}`);
  }
  return file;
};

/** gRPC metadata keys: lowercase letters, digits, "-", "_", "."; binary ("-bin") values are not text. */
const HEADER_KEY = /^[0-9a-z_.-]+$/;

function readHeaders(f: Fields, hasToken: boolean): Record<string, string> {
  const headers = f.opt('headers', record(str()), {});
  for (const key of Object.keys(headers)) {
    const at = `${f.at('headers')}.${key}`;
    if (!HEADER_KEY.test(key) || key.endsWith('-bin')) {
      issue(f.ctx, at, 'a header name is lowercase letters, digits, "-", "_" or "." (and not a binary "-bin" header)');
    } else if (key === 'authorization' && hasToken) {
      issue(f.ctx, at, 'both headers.authorization and token_file set the authorization header; keep one');
    }
  }
  return headers;
}

/**
 * The keys every upstream connection shares, read from the object holding
 * them (its endpoints are read by the caller: a list for the store, one
 * `endpoint` for the scheduler).
 */
export function readUpstreamConnection(f: Fields, endpoints: UpstreamEndpointSpec[]): UpstreamConnectionSpec {
  const spec: UpstreamConnectionSpec = {
    endpoints,
    retry: f.opt('retry', retry, { ...RETRY_DEFAULTS }),
    max_concurrent_requests: f.opt('max_concurrent_requests', int(), UPSTREAM_DEFAULTS.max_concurrent_requests),
    // NativeLink reads 0 as its default, 1.
    connections_per_endpoint: Math.max(1, f.opt('connections_per_endpoint', int(), UPSTREAM_DEFAULTS.connections_per_endpoint)),
    rpc_timeout_s: f.opt('rpc_timeout_s', duration({ fractional: true }), UPSTREAM_DEFAULTS.rpc_timeout_s),
    headers: {},
  };
  const token = f.maybe('token_file', tokenFile);
  if (token !== undefined) spec.token_file = token;
  spec.headers = readHeaders(f, f.has('token_file'));
  f.reject('forward_headers', 'ncache does not forward a client\'s headers upstream; put a token in token_file (or a fixed header in headers)');
  return spec;
}

/** The store's `endpoints` list: at least one. */
export function readUpstreamEndpoints(f: Fields): UpstreamEndpointSpec[] {
  return f.req('endpoints', array(upstreamEndpoint, { nonEmpty: true }), 'a list like [{ address: "grpc://10.0.0.5:8980" }]') ?? [];
}
