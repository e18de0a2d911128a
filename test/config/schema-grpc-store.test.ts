// The `grpc` store through the real loader: NativeLink's keys with their
// defaults, the keys accepted without effect, and messages naming the field.
import { describe, expect, it } from 'vitest';
import { collectWarnings } from '../../src/config/schema.js';
import { firstStore, issuesOf, parse, withStore } from './helpers.js';

describe('grpc store config', () => {
  it('reads NativeLink GrpcSpec keys with their defaults', () => {
    expect(firstStore(withStore({ grpc: { instance_name: 'main', store_type: 'cas', endpoints: [{ address: 'grpc://10.0.0.5:8980' }] } }))).toEqual({
      kind: 'grpc',
      instance_name: 'main',
      store_type: 'cas',
      endpoints: [{ address: 'grpc://10.0.0.5:8980', concurrency_limit: 0, http2_keepalive_interval_s: 0, http2_keepalive_timeout_s: 0 }],
      retry: { max_retries: 0, delay: 0, jitter: 0 },
      max_concurrent_requests: 0,
      connections_per_endpoint: 1,
      rpc_timeout_s: 0,
      headers: {},
    });
    const full = firstStore(
      withStore({
        grpc: {
          store_type: 'ac',
          endpoints: [{ address: 'grpcs://cache.example.com:443', concurrency_limit: 4 }],
          retry: { max_retries: 6, delay: 0.3, jitter: 0.5 },
          max_concurrent_requests: 100,
          connections_per_endpoint: 4,
          rpc_timeout_s: '2m',
          use_legacy_resource_names: true,
          experimental_read_batching: { max_blob_size_bytes: 131072 },
          experimental_remote_cache_compression: false,
        },
      }),
    );
    expect(full).toMatchObject({ kind: 'grpc', instance_name: '', store_type: 'ac', max_concurrent_requests: 100, connections_per_endpoint: 4, rpc_timeout_s: 120 });
  });

  it('names the field: missing endpoints or store_type, a bad scheme, a missing token file', () => {
    expect(issuesOf(withStore({ grpc: {} }))).toEqual([
      'stores[0].grpc.store_type: missing required field (expected "cas" or "ac")',
      'stores[0].grpc.endpoints: missing required field (expected a list like [{ address: "grpc://10.0.0.5:8980" }])',
    ]);
    expect(issuesOf(withStore({ grpc: { store_type: 'cache', endpoints: [{ address: 'https://10.0.0.5:8980' }] } }))).toEqual([
      'stores[0].grpc.store_type: expected one of "cas", "ac", got "cache"',
      'stores[0].grpc.endpoints[0].address: expected a grpc:// or grpcs:// address like grpc://10.0.0.5:8980 or grpcs://cache.example.com, got "https://10.0.0.5:8980"',
    ]);
    const missingToken = issuesOf(withStore({ grpc: { store_type: 'cas', endpoints: [{ address: 'grpc://h:1' }], token_file: '/nonexistent/token' } }));
    expect(missingToken).toEqual([expect.stringMatching(/^stores\[0\]\.grpc\.token_file: cannot read \/nonexistent\/token: .*ENOENT/)]);
    expect(issuesOf(withStore({ grpc: { store_type: 'cas', endpoints: [{ address: 'grpc://h:1' }], forward_headers: ['authorization'] } }))).toEqual([
      "stores[0].grpc.forward_headers: ncache does not forward a client's headers upstream; put a token in token_file (or a fixed header in headers)",
    ]);
  });

  it('names the nested path when a grpc store is the slow tier of a fast_slow', () => {
    const slow = { grpc: { store_type: 'cas', endpoints: [{ address: 'grpc://h:1', tls_config: {} }] } };
    expect(issuesOf(withStore({ fast_slow: { fast: { memory: {} }, slow } }))).toEqual([
      'stores[0].fast_slow.slow.grpc.endpoints[0].tls_config: tls_config needs a grpcs:// address, but address is grpc://h:1',
    ]);
  });

  it('warns when retry.max_retries is 0, and not with retries', () => {
    const body = (retry: object) => withStore({ grpc: { store_type: 'cas', endpoints: [{ address: 'grpc://h:1' }], retry } });
    const warning = 'stores[0].grpc.retry: max_retries is 0, so one dropped connection to the upstream fails the request (e.g. retry: { max_retries: 6, delay: 0.3, jitter: 0.5 })';
    expect(collectWarnings(parse(body({})))).toContain(warning);
    expect(collectWarnings(parse(body({ max_retries: 3 })))).not.toContain(warning);
  });
});
