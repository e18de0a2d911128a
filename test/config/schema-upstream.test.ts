// The upstream connection block (shared by the grpc store and scheduler):
// NativeLink's GrpcEndpoint keys, the shared keys with their defaults, the
// token file, and messages that name the field.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ReadContext, object } from '../../src/config/reader.js';
import { readUpstreamConnection, readUpstreamEndpoints } from '../../src/config/schema-upstream.js';
import type { UpstreamConnectionSpec } from '../../src/config/types.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();

function read(value: unknown, baseDir = '/'): { spec: UpstreamConnectionSpec | undefined; issues: string[] } {
  const ctx: ReadContext = { issues: [], env: {}, baseDir, refs: [] };
  const spec = object((f) => readUpstreamConnection(f, readUpstreamEndpoints(f)))(ctx, value, 'stores[0].grpc');
  return { spec, issues: ctx.issues.map((i) => `${i.path}: ${i.message}`) };
}

describe('upstream connection config', () => {
  it('fills NativeLink defaults and accepts the keepalive and timeout keys', () => {
    const { spec, issues } = read({
      endpoints: [
        { address: 'grpc://10.0.0.5:8980' },
        { address: 'grpcs://cache.example.com', concurrency_limit: 8, connect_timeout_s: 5, tcp_keepalive_s: 30, http2_keepalive_interval_s: 20, http2_keepalive_timeout_s: 10 },
      ],
    });
    expect(issues).toEqual([]);
    expect(spec).toEqual({
      endpoints: [
        { address: 'grpc://10.0.0.5:8980', concurrency_limit: 0, http2_keepalive_interval_s: 0, http2_keepalive_timeout_s: 0 },
        { address: 'grpcs://cache.example.com', concurrency_limit: 8, http2_keepalive_interval_s: 20, http2_keepalive_timeout_s: 10 },
      ],
      retry: { max_retries: 0, delay: 0, jitter: 0 },
      max_concurrent_requests: 0,
      connections_per_endpoint: 1,
      rpc_timeout_s: 0,
      headers: {},
    });
    expect(read({ endpoints: [{ address: 'grpc://h:1' }], connections_per_endpoint: 0 }).spec?.connections_per_endpoint).toBe(1);
  });

  it('names the field of a bad address, a missing or empty endpoint list, and tls_config on grpc://', () => {
    expect(read({}).issues).toEqual(['stores[0].grpc.endpoints: missing required field (expected a list like [{ address: "grpc://10.0.0.5:8980" }])']);
    expect(read({ endpoints: [] }).issues).toEqual(['stores[0].grpc.endpoints: expected at least one entry, got an empty array']);
    expect(read({ endpoints: [{ address: 'http://h:1' }, { address: 'grpc://h' }, { address: 'grpc://h:1/x' }] }).issues).toEqual([
      'stores[0].grpc.endpoints[0].address: expected a grpc:// or grpcs:// address like grpc://10.0.0.5:8980 or grpcs://cache.example.com, got "http://h:1"',
      'stores[0].grpc.endpoints[1].address: a grpc:// address needs a port, got "grpc://h"',
      'stores[0].grpc.endpoints[2].address: expected only scheme, host and port, got "grpc://h:1/x"',
    ]);
    expect(read({ endpoints: [{ address: 'grpc://h:1', tls_config: {} }] }).issues).toEqual([
      'stores[0].grpc.endpoints[0].tls_config: tls_config needs a grpcs:// address, but address is grpc://h:1',
    ]);
    expect(read({ endpoints: [{ adress: 'grpc://h:1' }] }).issues).toContain('stores[0].grpc.endpoints[0].adress: unknown field (did you mean "address"?)');
  });

  it('checks tls_config files and the token file when the config loads', async () => {
    const dir = await tempDir('ncache-upstream-config-', cleanups);
    writeFileSync(join(dir, 'ca.pem'), 'not checked here');
    writeFileSync(join(dir, 'token'), ' secret-token \n');
    writeFileSync(join(dir, 'empty'), '\n');
    const good = read({ endpoints: [{ address: 'grpcs://h', tls_config: { ca_file: 'ca.pem' } }], token_file: 'token' }, dir);
    expect(good.issues).toEqual([]);
    expect(good.spec?.endpoints[0]?.tls_config).toEqual({ ca_file: join(dir, 'ca.pem'), use_native_roots: false });
    expect(good.spec?.token_file).toBe(join(dir, 'token'));

    expect(read({ endpoints: [{ address: 'grpcs://h', tls_config: { cert_file: 'ca.pem' } }], token_file: 'missing' }, dir).issues).toEqual([
      'stores[0].grpc.endpoints[0].tls_config.key_file: a client certificate needs both cert_file and key_file',
      expect.stringMatching(new RegExp(`^stores\\[0\\]\\.grpc\\.token_file: cannot read ${join(dir, 'missing')}: .*ENOENT`)),
    ]);
    expect(read({ endpoints: [{ address: 'grpc://h:1' }], token_file: 'empty' }, dir).issues).toEqual([
      `stores[0].grpc.token_file: ${join(dir, 'empty')} is empty (expected a bearer token)`,
    ]);
  });

  it('reads headers, refuses forward_headers and a second authorization', async () => {
    const dir = await tempDir('ncache-upstream-config-', cleanups);
    writeFileSync(join(dir, 'token'), 'secret-token');
    expect(read({ endpoints: [{ address: 'grpc://h:1' }], headers: { 'x-team': 'build' } }).spec?.headers).toEqual({ 'x-team': 'build' });
    expect(read({ endpoints: [{ address: 'grpc://h:1' }], headers: { authorization: 'Bearer x', 'X-Up': 'y' }, token_file: 'token', forward_headers: ['authorization'] }, dir).issues).toEqual([
      'stores[0].grpc.headers.authorization: both headers.authorization and token_file set the authorization header; keep one',
      'stores[0].grpc.headers.X-Up: a header name is lowercase letters, digits, "-", "_" or "." (and not a binary "-bin" header)',
      "stores[0].grpc.forward_headers: ncache does not forward a client's headers upstream; put a token in token_file (or a fixed header in headers)",
    ]);
  });
});
