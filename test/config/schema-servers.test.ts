// Servers and services: NativeLink's array and map forms, normalized.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirPerTest } from '../helpers/temp-dir.js';
import { baseConfig, issuesOf, parse } from './helpers.js';

function withServices(services: Record<string, unknown>) {
  const c = baseConfig();
  c.stores.push({ name: 'AC', memory: {} });
  c.schedulers = [{ name: 'SCHED', simple: {} }];
  c.servers[0].services = services;
  return c;
}

describe('servers', () => {
  it('are named by index unless named', () => {
    const c = baseConfig();
    c.servers.push({ name: 'public', listener: { http: { socket_address: '127.0.0.1:0' } } });
    const servers = parse(c).servers;
    expect(servers.map((s) => s.name)).toEqual(['0', 'public']);
    expect(servers[1]!.services).toEqual({});
  });

  it('need a listener; HTTP/3 is refused rather than silently ignored (TLS: schema-tls.test.ts)', () => {
    const c = baseConfig();
    delete c.servers[0].listener;
    expect(issuesOf(c)).toEqual(['servers[0].listener: missing required field (expected { http: { socket_address: "127.0.0.1:50051" } })']);
    const quic = baseConfig();
    quic.servers[0].listener = { http3: { socket_address: '0.0.0.0:1' } };
    expect(issuesOf(quic)).toEqual(['servers[0].listener.http3: QUIC/HTTP3 listeners are not supported by ncache; use http']);
  });

  it('accept NativeLink listener tuning (compression, advanced_http) and keep it for warnings', () => {
    const c = baseConfig();
    c.servers[0].listener.http.compression = { send_compression_algorithm: 'gzip', accepted_compression_algorithms: ['gzip'] };
    c.servers[0].listener.http.advanced_http = { http2_keep_alive_interval: 10, experimental_http2_adaptive_window: true };
    expect(parse(c).servers[0]!.listener.http).toEqual({
      socket_address: '127.0.0.1:0',
      compression: { send_compression_algorithm: 'gzip', accepted_compression_algorithms: ['gzip'] },
      advanced_http: { http2_keep_alive_interval: 10, experimental_http2_adaptive_window: true },
    });
    c.servers[0].listener.http.advanced_http = { http2_keep_alive: 10 };
    expect(issuesOf(c)[0]).toBe('servers[0].listener.http.advanced_http.http2_keep_alive: unknown field (did you mean "http2_keep_alive_interval"?)');
  });
});

describe('listener auth (an ncache extension)', () => {
  let dir = '';
  tempDirPerTest('ncache-schema-auth-', (d) => (dir = d));
  const TOKEN = 'a-team-token-0123456789';

  it('reads tokens_file (relative to the config file, ~ expanded) and allow_unauthenticated_reads (default false)', async () => {
    await mkdir(join(dir, 'home', 'ncache'), { recursive: true });
    await writeFile(join(dir, 'tokens'), `${TOKEN}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'home', 'ncache', 'tokens'), `${TOKEN} read\n`, { mode: 0o600 });
    const c = baseConfig();
    c.servers[0].listener.http.auth = { tokens_file: 'tokens' };
    expect(parse(c, undefined, join(dir, 'config.json5')).servers[0]!.listener.http.auth).toEqual({
      tokens_file: join(dir, 'tokens'),
      allow_unauthenticated_reads: false,
    });
    c.servers[0].listener.http.auth = { tokens_file: '~/ncache/tokens', allow_unauthenticated_reads: true };
    expect(parse(c, { HOME: join(dir, 'home') }).servers[0]!.listener.http.auth).toEqual({
      tokens_file: join(dir, 'home', 'ncache', 'tokens'),
      allow_unauthenticated_reads: true,
    });
  });

  it('reports a missing tokens_file, a mistyped key and a wrong type', () => {
    const c = baseConfig();
    c.servers[0].listener.http.auth = { allow_unauthenticated_read: 'yes' };
    expect(issuesOf(c)).toEqual([
      'servers[0].listener.http.auth.tokens_file: missing required field (expected the path of a file with one bearer token per line)',
      'servers[0].listener.http.auth.allow_unauthenticated_read: unknown field (did you mean "allow_unauthenticated_reads"?)',
    ]);
    c.servers[0].listener.http.auth = { tokens_file: join(dir, 'tokens'), allow_unauthenticated_reads: 'yes' };
    expect(issuesOf(c)).toContain('servers[0].listener.http.auth.allow_unauthenticated_reads: expected true or false, got "yes"');
  });

  it('reads the tokens file at load: missing, too open or empty is an error at tokens_file, never quoting a token', async () => {
    const file = join(dir, 'tokens');
    const c = baseConfig();
    c.servers[0].listener.http.auth = { tokens_file: file };
    expect(issuesOf(c)).toEqual([`servers[0].listener.http.auth.tokens_file: ${file} does not exist; create it (0600) with one token per line, or remove listener.http.auth`]);
    await writeFile(file, `${TOKEN}\n`, { mode: 0o644 });
    await chmod(file, 0o644);
    expect(issuesOf(c)).toEqual([
      `servers[0].listener.http.auth.tokens_file: ${file} can be read or written by its group or other users (mode 0644); a tokens file must be 0600 or stricter: chmod 600 ${file}`,
    ]);
    await writeFile(file, `# nothing yet\nshort\n`);
    await chmod(file, 0o600);
    expect(issuesOf(c)).toEqual([
      `servers[0].listener.http.auth.tokens_file: ${file}: line 2: the token is shorter than 16 characters; use a long random one (expected one "TOKEN [read|write]" per line)`,
    ]);
  });
});

describe('per-instance services', () => {
  it('read the array form, instance_name defaulting to ""', () => {
    const s = parse(
      withServices({
        cas: [{ cas_store: 'CAS' }, { instance_name: 'main', cas_store: 'CAS' }],
        ac: [{ instance_name: 'main', ac_store: 'AC', read_only: true }],
        execution: [{ instance_name: 'main', cas_store: 'CAS', scheduler: 'SCHED' }],
        capabilities: [{ instance_name: 'main', remote_execution: { scheduler: 'SCHED' } }, { instance_name: '' }],
      }),
    ).servers[0]!.services;
    expect(s.cas).toEqual([
      { instance_name: '', cas_store: 'CAS' },
      { instance_name: 'main', cas_store: 'CAS' },
    ]);
    expect(s.ac).toEqual([{ instance_name: 'main', ac_store: 'AC', read_only: true }]);
    expect(s.execution).toEqual([{ instance_name: 'main', cas_store: 'CAS', scheduler: 'SCHED' }]);
    expect(s.capabilities).toEqual([{ instance_name: 'main', remote_execution: { scheduler: 'SCHED' } }, { instance_name: '' }]);
  });

  it('read the older map form keyed by instance name', () => {
    const s = parse(
      withServices({
        cas: { main: { cas_store: 'CAS' } },
        ac: { main: { ac_store: 'AC' } },
        capabilities: { main: {} },
      }),
    ).servers[0]!.services;
    expect(s.cas).toEqual([{ instance_name: 'main', cas_store: 'CAS' }]);
    expect(s.ac).toEqual([{ instance_name: 'main', ac_store: 'AC', read_only: false }]);
    expect(s.capabilities).toEqual([{ instance_name: 'main' }]);
  });

  it('report missing and unknown fields inside entries', () => {
    expect(issuesOf(withServices({ cas: [{ instance_name: 'x' }], ac: [{ ac_store: 'AC', readonly: true }], execution: 'CAS' }))).toEqual([
      'servers[0].services.cas[0].cas_store: missing required field (expected the name of a store in "stores")',
      'servers[0].services.ac[0].readonly: unknown field (did you mean "read_only"?)',
      'servers[0].services.execution: expected an array like [{ instance_name: "main", ... }], got "CAS"',
    ]);
    expect(issuesOf(withServices({ cass: [] }))).toEqual(['servers[0].services.cass: unknown field (did you mean "cas"?)']);
  });

  it('refuse NativeLink options ncache cannot honour', () => {
    expect(
      issuesOf(
        withServices({
          cas: [{ cas_store: 'CAS', experimental_chunking: {} }],
          capabilities: [{ remote_cache_compression: true }],
        }),
      ),
    ).toEqual([
      'servers[0].services.cas[0].experimental_chunking: experimental_chunking (SplitBlob/SpliceBlob) is not supported by ncache; remove it',
      'servers[0].services.capabilities[0].remote_cache_compression: remote_cache_compression is not supported by ncache yet; remove it',
    ]);
  });
});

describe('bytestream', () => {
  it("reads the seed's map form with NativeLink defaults (64 KiB per message, 10 s resumable)", () => {
    const b = parse(withServices({ bytestream: { cas_stores: { main: 'CAS', '': 'CAS' } } })).servers[0]!.services.bytestream;
    expect(b).toEqual({
      cas_stores: { main: 'CAS', '': 'CAS' },
      max_bytes_per_stream: 65_536,
      persist_stream_on_disconnect_timeout: 10,
      max_decoding_message_size: 4 * 1024 * 1024,
    });
  });

  it("reads NativeLink's array form into the same cas_stores map", () => {
    const b = parse(
      withServices({
        bytestream: [
          { instance_name: 'main', cas_store: 'CAS', max_bytes_per_stream: '32kib', persist_stream_on_disconnect_timeout_s: '1m' },
          { cas_store: 'AC', max_bytes_per_stream: '32kib', persist_stream_on_disconnect_timeout: 60 },
        ],
      }),
    ).servers[0]!.services.bytestream;
    expect(b).toEqual({
      cas_stores: { main: 'CAS', '': 'AC' },
      max_bytes_per_stream: 32_768,
      persist_stream_on_disconnect_timeout: 60,
      max_decoding_message_size: 4 * 1024 * 1024,
    });
  });

  it('rejects array entries whose tuning disagrees, since one value applies to all', () => {
    expect(
      issuesOf(
        withServices({
          bytestream: [
            { instance_name: 'a', cas_store: 'CAS' },
            { instance_name: 'b', cas_store: 'CAS', max_bytes_per_stream: '1mb' },
          ],
        }),
      ),
    ).toEqual([
      'servers[0].services.bytestream[1].max_bytes_per_stream: ncache applies one max_bytes_per_stream to every bytestream instance; this differs from servers[0].services.bytestream[0] (65536)',
    ]);
  });

  it('reports bad values in either form', () => {
    expect(issuesOf(withServices({ bytestream: { cas_stores: { main: 7 }, max_bytes_per_stream: 'lots' } }))).toEqual([
      'servers[0].services.bytestream.cas_stores.main: expected a string, got 7',
      'servers[0].services.bytestream.max_bytes_per_stream: expected a size like "64kb" or a number of bytes, got "lots"',
    ]);
    expect(issuesOf(withServices({ bytestream: {} }))).toEqual([
      'servers[0].services.bytestream.cas_stores: missing required field (expected { "<instance name>": "<store name>" })',
    ]);
    expect(issuesOf(withServices({ bytestream: [] }))).toEqual([
      'servers[0].services.bytestream: expected at least one { instance_name, cas_store } entry',
    ]);
  });
});

describe('other services', () => {
  it('experimental_prometheus: path defaults to /metrics ("" too, as in NativeLink) and must be a URL path', () => {
    expect(parse(withServices({ experimental_prometheus: {} })).servers[0]!.services.experimental_prometheus).toEqual({ path: '/metrics' });
    expect(parse(withServices({ experimental_prometheus: { path: '' } })).servers[0]!.services.experimental_prometheus).toEqual({ path: '/metrics' });
    expect(issuesOf(withServices({ experimental_prometheus: { path: 'metrics' } }))).toEqual([
      'servers[0].services.experimental_prometheus.path: expected a URL path starting with "/" (no spaces, query or fragment), like "/metrics", got "metrics"',
    ]);
    expect(issuesOf(withServices({ experimental_prometheus: { path: '/m?x=1' } }))).toHaveLength(1);
    expect(issuesOf(withServices({ experimental_prometheus: { path: '/a b' } }))).toHaveLength(1);
  });

  it('health accepts NativeLink fields and normalizes to {}', () => {
    expect(parse(withServices({ health: { path: '/status', timeout_seconds: 5 } })).servers[0]!.services.health).toEqual({});
  });

  it('worker_api, admin, prometheus, fetch, push and bep are accepted and validated', () => {
    const s = parse(
      withServices({
        worker_api: { scheduler: 'SCHED' },
        admin: {},
        experimental_prometheus: { path: '/m' },
        fetch: [{ instance_name: 'main', fetch_store: 'CAS' }],
        push: [{ instance_name: 'main', push_store: 'CAS', read_only: true }],
        experimental_bep: { store: 'AC' },
      }),
    ).servers[0]!.services;
    expect(s).toEqual({
      worker_api: { scheduler: 'SCHED' },
      admin: { path: '/admin' },
      experimental_prometheus: { path: '/m' },
      fetch: [{ instance_name: 'main', fetch_store: 'CAS' }],
      push: [{ instance_name: 'main', push_store: 'CAS', read_only: true }],
      experimental_bep: { store: 'AC' },
    });
    expect(issuesOf(withServices({ fetch: [{ fetch_store: 'NOPE' }] }))).toEqual([
      'servers[0].services.fetch[0].fetch_store: store "NOPE" does not exist (defined stores: "CAS", "AC")',
    ]);
  });
});
