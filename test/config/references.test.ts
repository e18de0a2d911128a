// Checks across the whole config: names must resolve, be unique, and not loop.
import { describe, expect, it } from 'vitest';
import { baseConfig, issuesOf, parse } from './helpers.js';

describe('store references', () => {
  it('a service naming a missing store, with a suggestion', () => {
    const c = baseConfig();
    c.servers[0].services.ac = [{ instance_name: '', ac_store: 'CSA' }];
    c.servers[0].services.bytestream = { cas_stores: { '': 'NOPE' } };
    expect(issuesOf(c)).toEqual([
      'servers[0].services.ac[0].ac_store: store "CSA" does not exist (did you mean "CAS"? defined stores: "CAS")',
      'servers[0].services.bytestream.cas_stores[""]: store "NOPE" does not exist (defined stores: "CAS")',
    ]);
  });

  it('a ref_store naming a missing store', () => {
    const c = baseConfig();
    c.stores.push({ name: 'AC', completeness_checking: { backend: { memory: {} }, cas_store: { ref_store: { name: 'CAS_MAIN' } } } });
    expect(issuesOf(c)).toEqual([
      'stores[1].completeness_checking.cas_store.ref_store.name: store "CAS_MAIN" does not exist (defined stores: "CAS", "AC")',
    ]);
  });

  it('a worker naming missing stores', () => {
    const c = baseConfig();
    c.schedulers = [{ name: 'MAIN', simple: {} }];
    c.servers.push({ listener: { http: { socket_address: '127.0.0.1:50061' } }, services: { worker_api: { scheduler: 'MAIN' } } });
    c.workers = [
      {
        local: {
          worker_api_endpoint: { uri: 'grpc://127.0.0.1:50061' },
          cas_fast_slow_store: 'WORKER_FAST_SLOW',
          work_directory: '/tmp/work',
          upload_action_result: { ac_store: 'AC' },
        },
      },
    ];
    expect(issuesOf(c)).toEqual([
      'workers[0].local.cas_fast_slow_store: store "WORKER_FAST_SLOW" does not exist (defined stores: "CAS")',
      'workers[0].local.upload_action_result.ac_store: store "AC" does not exist (defined stores: "CAS")',
    ]);
  });

  it('a store whose own kind is wrong is still known by name', () => {
    const c = baseConfig();
    c.stores.push({ name: 'AC', memroy: {} });
    c.servers[0].services.ac = [{ ac_store: 'AC' }];
    expect(issuesOf(c)).toEqual(['stores[1].memroy: unknown store kind or field (did you mean "memory"?)']);
  });

  it('ref_store cycles, direct and through other stores, once each', () => {
    const c = baseConfig();
    c.stores.push(
      { name: 'A', ref_store: { name: 'B' } },
      { name: 'B', fast_slow: { fast: { ref_store: { name: 'A' } }, slow: { noop: {} } } },
      { name: 'SELF', verify: { backend: { ref_store: { name: 'SELF' } } } },
    );
    expect(issuesOf(c)).toEqual([
      'stores[2].fast_slow.fast.ref_store.name: ref_store cycle: "A" -> "B" -> "A" (a store cannot contain itself)',
      'stores[3].verify.backend.ref_store.name: ref_store cycle: "SELF" -> "SELF" (a store cannot contain itself)',
    ]);
  });

  it('ref_stores that share a target without looping are fine', () => {
    const c = baseConfig();
    c.stores.push(
      { name: 'X', ref_store: { name: 'CAS' } },
      { name: 'Y', fast_slow: { fast: { ref_store: { name: 'X' } }, slow: { ref_store: { name: 'CAS' } } } },
    );
    expect(parse(c).stores.map((s) => s.name)).toEqual(['CAS', 'X', 'Y']);
  });
});

describe('scheduler references', () => {
  it('execution and capabilities naming a missing scheduler', () => {
    const c = baseConfig();
    c.schedulers = [{ name: 'MAIN', simple: {} }];
    c.servers[0].services.execution = [{ instance_name: '', cas_store: 'CAS', scheduler: 'MAIN_SCHEDULER' }];
    c.servers[0].services.capabilities = [{ instance_name: '', remote_execution: { scheduler: 'OTHER' } }];
    c.servers[0].services.worker_api = { scheduler: 'GONE' };
    expect(issuesOf(c)).toEqual([
      'servers[0].services.execution[0].scheduler: scheduler "MAIN_SCHEDULER" does not exist (defined schedulers: "MAIN")',
      'servers[0].services.capabilities[0].remote_execution.scheduler: scheduler "OTHER" does not exist (defined schedulers: "MAIN")',
      'servers[0].services.worker_api.scheduler: scheduler "GONE" does not exist (defined schedulers: "MAIN")',
    ]);
  });

  it('with no schedulers defined at all', () => {
    const c = baseConfig();
    c.servers[0].services.execution = [{ cas_store: 'CAS', scheduler: 'S' }];
    expect(issuesOf(c)).toEqual(['servers[0].services.execution[0].scheduler: scheduler "S" does not exist (no schedulers are defined)']);
  });
});

describe('duplicates', () => {
  it('duplicate store and scheduler names', () => {
    const c = baseConfig();
    c.stores.push({ name: 'CAS', noop: {} });
    c.schedulers = [
      { name: 'S', simple: {} },
      { name: 'S', simple: {} },
    ];
    expect(issuesOf(c)).toEqual([
      'stores[1].name: duplicate store name "CAS" (first defined at stores[0].name)',
      'schedulers[1].name: duplicate scheduler name "S" (first defined at schedulers[0].name)',
    ]);
  });

  it('duplicate instance names within one service, in both bytestream forms', () => {
    const c = baseConfig();
    c.servers[0].services.cas.push({ cas_store: 'CAS' });
    c.servers[0].services.ac = [
      { instance_name: 'main', ac_store: 'CAS' },
      { instance_name: 'main', ac_store: 'CAS' },
    ];
    c.servers[0].services.bytestream = [
      { instance_name: 'x', cas_store: 'CAS' },
      { instance_name: 'x', cas_store: 'CAS' },
    ];
    expect(issuesOf(c)).toEqual([
      'servers[0].services.cas[1]: duplicate instance name "" (already used at servers[0].services.cas[0])',
      'servers[0].services.ac[1]: duplicate instance name "main" (already used at servers[0].services.ac[0])',
      'servers[0].services.bytestream[1]: duplicate instance name "x" (already used at servers[0].services.bytestream[0])',
    ]);
  });

  it('the same instance name in different services is fine', () => {
    const c = baseConfig();
    c.servers[0].services.ac = [{ ac_store: 'CAS' }];
    expect(parse(c).servers[0]!.services.ac).toEqual([{ instance_name: '', ac_store: 'CAS', read_only: false }]);
  });

  it('two servers on the same fixed address; port 0 may repeat', () => {
    const c = baseConfig();
    c.servers[0].listener.http.socket_address = '127.0.0.1:50051';
    c.servers.push({ listener: { http: { socket_address: '127.0.0.1:50051' } } });
    c.servers.push({ listener: { http: { socket_address: '127.0.0.1:0' } } }, { listener: { http: { socket_address: '127.0.0.1:0' } } });
    expect(issuesOf(c)).toEqual(['servers[1].listener.http.socket_address: 127.0.0.1:50051 is already used by servers[0]']);
  });

  it('filesystem stores sharing a directory', () => {
    const c = baseConfig();
    c.stores.push(
      { name: 'A', filesystem: { content_path: '/data/cas', temp_path: '/data/tmp' } },
      { name: 'B', filesystem: { content_path: '/data/ac', temp_path: '/data/tmp' } },
      { name: 'C', filesystem: { content_path: '/data/same', temp_path: '/data/same' } },
    );
    expect(issuesOf(c)).toEqual([
      'stores[2].filesystem.temp_path: "/data/tmp" is already used by stores[1].filesystem.temp_path; each filesystem store needs its own directories',
      'stores[3].filesystem.temp_path: "/data/same" is already used by stores[3].filesystem.content_path; each filesystem store needs its own directories',
    ]);
  });
});

describe('listener addresses', () => {
  const withAddress = (address: unknown) => {
    const c = baseConfig();
    c.servers[0].listener.http.socket_address = address;
    return c;
  };

  it('accepts IPv4, bracketed IPv6, host names and ":port"', () => {
    expect(parse(withAddress('0.0.0.0:50051')).servers[0]!.listener.http.socket_address).toBe('0.0.0.0:50051');
    expect(parse(withAddress('[::1]:8980')).servers[0]!.listener.http.socket_address).toBe('[::1]:8980');
    expect(parse(withAddress('localhost:8980')).servers[0]!.listener.http.socket_address).toBe('localhost:8980');
    expect(parse(withAddress(':8980')).servers[0]!.listener.http.socket_address).toBe('0.0.0.0:8980');
  });

  it('rejects what does not parse as host:port', () => {
    for (const [address, why] of [
      ['127.0.0.1', 'expected HOST:PORT like "127.0.0.1:50051" or "[::1]:50051", got "127.0.0.1"'],
      ['127.0.0.1:http', 'expected HOST:PORT like "127.0.0.1:50051" or "[::1]:50051", got "127.0.0.1:http"'],
      ['127.0.0.1:70000', 'port 70000 is out of range (0-65535), got "127.0.0.1:70000"'],
      ['::1:50051', 'expected HOST:PORT like "127.0.0.1:50051" or "[::1]:50051", got "::1:50051"'],
      ['[fe80::zz]:1', '"fe80::zz" is not an IPv6 address, got "[fe80::zz]:1"'],
      ['300.1.1.1:1', '"300.1.1.1" is not an IP address or host name, got "300.1.1.1:1"'],
      ['bad_host!:1', '"bad_host!" is not an IP address or host name, got "bad_host!:1"'],
    ] as const) {
      expect(issuesOf(withAddress(address))).toEqual([`servers[0].listener.http.socket_address: ${why}`]);
    }
    expect(issuesOf(withAddress(50051))).toEqual(['servers[0].listener.http.socket_address: expected a string, got 50051']);
  });
});
