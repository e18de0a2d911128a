import { describe, expect, it } from 'vitest';
import { collectWarnings, summarizeConfig } from '../../src/config/schema.js';
import { baseConfig, parse, withStore } from './helpers.js';

const warningsOf = (c: unknown) => collectWarnings(parse(c));
const fsStore = (dir: string) => ({ filesystem: { content_path: `/d/${dir}`, temp_path: `/d/${dir}-tmp`, eviction_policy: { max_bytes: '1gb' } } });

describe('summarizeConfig', () => {
  it('lists stores by shape, schedulers, servers with their services and instances, and workers', () => {
    const c = baseConfig();
    c.stores.push({ name: 'WFS', fast_slow: { fast: fsStore('w'), slow: { ref_store: { name: 'CAS' } } } });
    c.schedulers = [{ name: 'S1', simple: {} }];
    c.servers[0].services.ac = [{ instance_name: 'x', ac_store: 'CAS' }];
    c.servers.push({ listener: { http: { socket_address: '[::1]:9000' } }, services: {} });
    c.servers.push({ listener: { http: { socket_address: '[::1]:9001' } }, services: { worker_api: { scheduler: 'S1' } } });
    c.workers = [{ local: { worker_api_endpoint: { uri: 'grpc://[::1]:9001' }, cas_fast_slow_store: 'WFS', work_directory: '/w' } }];
    expect(summarizeConfig(parse(c))).toBe(
      'stores: CAS = memory, WFS = fast_slow(filesystem, ref CAS); schedulers: S1; ' +
        'servers: 127.0.0.1:0 (cas, ac; instances "", "x"), [::1]:9000 (no services), [::1]:9001 (worker_api); workers: 1',
    );
  });

  it('shows every wrapper kind in a store shape', () => {
    const spec = {
      size_partitioning: {
        size: '1mb',
        lower_store: { existence_cache: { backend: { shard: { stores: [{ store: { memory: {} } }, { store: { noop: {} } }] } } } },
        upper_store: { experimental_cloud_object_store: { provider: 'aws', bucket: 'b' } },
      },
    };
    expect(summarizeConfig(parse(withStore(spec)))).toMatch(/^stores: S = size_partitioning\(existence_cache > shard\(memory, noop\), s3\);/);
  });
});

describe('collectWarnings', () => {
  it('warns when an action cache writes through a verify store, but not when only its cas_store verifies', () => {
    const c = baseConfig();
    c.stores = [
      { name: 'CAS', verify: { verify_hash: true, backend: { memory: { eviction_policy: { max_bytes: '1mb' } } } } },
      { name: 'AC_REF', ref_store: { name: 'CAS' } },
      {
        name: 'AC_OK',
        completeness_checking: { backend: { memory: { eviction_policy: { max_bytes: '1mb' } } }, cas_store: { ref_store: { name: 'CAS' } } },
      },
    ];
    c.servers[0].services.ac = [
      { instance_name: '', ac_store: 'AC_REF' },
      { instance_name: 'ok', ac_store: 'AC_OK' },
    ];
    const warnings = warningsOf(c).filter((w) => w.includes('UpdateActionResult'));
    expect(warnings).toEqual([
      expect.stringMatching(/^servers\[0\]\.services\.ac\[0\]\.ac_store: "AC_REF" stores values through a verify store \(stores\[0\]\.verify\)/),
    ]);
  });

  it('a bounded local config has none', () => {
    const c = withStore(fsStore('cas'));
    c.servers[0].services.bytestream = { cas_stores: { '': 'S' } };
    c.servers[0].services.capabilities = [{}];
    expect(warningsOf(c)).toEqual([]);
  });

  it('async slow writes over a memory fast tier are not durable; over filesystem they are', () => {
    const c = withStore({ fast_slow: { fast: { memory: { eviction_policy: { max_bytes: '1gb' } } }, slow: fsStore('slow'), slow_write_mode: 'async' } });
    expect(warningsOf(c)).toContain(
      'stores[0].fast_slow.slow_write_mode: "async" over a memory fast tier is not durable: writes acknowledged before they reach the slow tier are lost if the daemon stops',
    );
    const durable = withStore({ fast_slow: { fast: fsStore('fast'), slow: fsStore('slow'), slow_write_mode: 'async' } });
    expect(warningsOf(durable).filter((w) => w.includes('slow_write_mode'))).toEqual([]);
    // Through a ref_store to a memory store: still not durable.
    const viaRef = withStore({ fast_slow: { fast: { ref_store: { name: 'M' } }, slow: fsStore('slow'), slow_write_mode: 'async' } });
    viaRef.stores.push({ name: 'M', memory: { eviction_policy: { max_bytes: '1gb' } } });
    expect(warningsOf(viaRef).filter((w) => w.includes('slow_write_mode'))).toHaveLength(1);
  });

  it('unbounded memory, disk and existence caches', () => {
    const c = withStore({ existence_cache: { backend: { fast_slow: { fast: { memory: {} }, slow: { filesystem: { content_path: '/c', temp_path: '/t' } } } } } });
    expect(warningsOf(c).filter((w) => w.startsWith('stores'))).toEqual([
      'stores[0].existence_cache: no eviction_policy, so the existence cache grows without bound',
      'stores[0].existence_cache.backend.fast_slow.fast.memory: no eviction_policy.max_bytes, so memory use grows without bound',
      'stores[0].existence_cache.backend.fast_slow.slow.filesystem: no eviction_policy.max_bytes, so disk use under /c grows without bound',
    ]);
  });

  it('S3 without retries', () => {
    const c = withStore({ experimental_cloud_object_store: { provider: 'aws', bucket: 'b' } });
    expect(warningsOf(c)).toContain(
      'stores[0].experimental_cloud_object_store.retry: max_retries is 0, so one transient S3 error fails the request (e.g. retry: { max_retries: 6, delay: 0.3, jitter: 0.5 })',
    );
  });

  it('a listener reachable from the network, and tuning that is not applied', () => {
    const c = baseConfig();
    c.servers[0].listener.http = {
      socket_address: '0.0.0.0:50051',
      compression: { send_compression_algorithm: 'gzip' },
      advanced_http: { http2_keep_alive_interval: 5 },
    };
    expect(warningsOf(c)).toEqual(
      expect.arrayContaining([
        'servers[0].listener.http.socket_address: 0.0.0.0:50051 is reachable from other machines, with no TLS or authentication; anyone who can connect can read and write this cache. ' +
          'Add listener.http.auth with a tokens file (ncache init --aws --listen writes one), or listen on 127.0.0.1',
        'servers[0].listener.http.compression: not applied; ncache does not compress the gRPC transport',
        'servers[0].listener.http.advanced_http: not applied by ncache (http2_keep_alive_interval)',
      ]),
    );
  });

  it('services Bazel needs, and NativeLink services ncache does not serve', () => {
    const c = baseConfig();
    c.schedulers = [{ name: 'S', simple: {} }];
    c.servers[0].services.admin = {};
    c.servers[0].services.worker_api = { scheduler: 'S' };
    c.servers[0].services.execution = [{ instance_name: '', cas_store: 'CAS', scheduler: 'S' }];
    expect(warningsOf(c)).toEqual([
      'servers[0].services.admin: accepted for NativeLink compatibility, but ncache does not serve it',
      'servers[0].services: has cas but no capabilities; Bazel calls GetCapabilities first and will refuse this server',
      'servers[0].services: has cas but no bytestream; Bazel moves blobs through ByteStream and will fail',
      'schedulers[0] ("S"): no worker serves it, so Execute answers every action sent to it with an error after a short wait; ' +
        'add workers: [{ local: { worker_api_endpoint: { uri: "grpc://127.0.0.1:50061" }, ... } }] and a listener on 127.0.0.1:50061 with services.worker_api: { scheduler: "S" } (ncache init --exec writes both)',
      'servers[0].services.worker_api: no workers[] entry names this listener in its worker_api_endpoint; ncache runs only its own local workers (in process), so remote workers cannot connect here',
    ]);
    // A scheduler no execution service uses sends no actions anywhere: nothing to warn about.
    const unused = baseConfig();
    unused.schedulers = [{ name: 'S', simple: {} }];
    expect(warningsOf(unused).filter((w) => w.startsWith('schedulers'))).toEqual([]);
    const only = baseConfig();
    only.servers[0].services = { admin: {} };
    expect(warningsOf(only)).toContain('servers[0].services: none that ncache serves, so this listener is useless');
  });

  it('a nested scheduler: no worker serving its innermost simple, and a cache_lookup ac_store that does not check completeness', () => {
    const c = baseConfig();
    c.stores.push({ name: 'AC', memory: {} });
    c.schedulers = [{ name: 'S', cache_lookup: { ac_store: 'AC', scheduler: { property_modifier: { modifications: [], scheduler: { simple: {} } } } } }];
    c.servers[0].services.execution = [{ instance_name: '', cas_store: 'CAS', scheduler: 'S' }];
    expect(warningsOf(c).filter((w) => w.startsWith('schedulers'))).toEqual([
      'schedulers[0].cache_lookup.ac_store: "AC" is memory, not completeness_checking, so a cached result whose outputs have left the CAS is answered as a hit and the client fails to fetch them',
      expect.stringMatching(/^schedulers\[0\] \("S"\): no worker serves it/),
    ]);
  });

  it('serves experimental_prometheus: no warning, and a listener with only metrics is not useless', () => {
    const c = baseConfig();
    c.servers.push({ listener: { http: { socket_address: '127.0.0.1:9090' } }, services: { experimental_prometheus: {} } });
    expect(warningsOf(c).filter((w) => w.startsWith('servers[1]'))).toEqual([]);
  });

  it('the summary names a nested or forwarding scheduler by its kinds and upstream', () => {
    const c = baseConfig();
    c.stores.push({ name: 'AC', memory: {} });
    c.schedulers = [
      { name: 'PLAIN', simple: {} },
      { name: 'R', cache_lookup: { ac_store: 'AC', scheduler: { grpc: { endpoint: { address: 'grpc://cluster:8980' } } } } },
    ];
    expect(summarizeConfig(parse(c))).toContain('schedulers: PLAIN, R = cache_lookup > grpc grpc://cluster:8980;');
  });

  it('a grpc scheduler needs no worker, nested or not', () => {
    const c = baseConfig();
    c.stores.push({ name: 'AC', completeness_checking: { backend: { memory: {} }, cas_store: { ref_store: { name: 'CAS' } } } });
    c.schedulers = [
      { name: 'R', grpc: { endpoint: { address: 'grpc://cluster:8980' } } },
      { name: 'N', cache_lookup: { ac_store: 'AC', scheduler: { grpc: { endpoint: { address: 'grpc://cluster:8980' } } } } },
    ];
    c.servers[0].services.execution = [
      { instance_name: '', cas_store: 'CAS', scheduler: 'R' },
      { instance_name: 'n', cas_store: 'CAS', scheduler: 'N' },
    ];
    expect(warningsOf(c).filter((w) => w.startsWith('schedulers'))).toEqual([]);
  });

  it('a worker whose CAS store is not fast_slow, and a config with no servers', () => {
    const c = baseConfig();
    c.workers = [{ local: { worker_api_endpoint: { uri: 'grpc://127.0.0.1:1' }, cas_fast_slow_store: 'CAS', work_directory: '/w' } }];
    c.schedulers = [{ name: 'S', simple: {} }];
    c.servers.push({ listener: { http: { socket_address: '127.0.0.1:1' } }, services: { worker_api: { scheduler: 'S' } } });
    expect(warningsOf(c)).toContain(
      'workers[0].local.cas_fast_slow_store: store "CAS" is memory, not fast_slow; the worker expects a fast_slow store with a filesystem fast tier',
    );
    const none = baseConfig();
    none.servers = [];
    expect(warningsOf(none)).toContain('servers: none configured, so the daemon serves nothing');
  });
});
