// `listener.http_cache`: Bazel's HTTP/1.1 cache protocol as a listener kind
// beside NativeLink's `http` (gRPC), read into the same ServerSpec.
import { describe, expect, it } from 'vitest';
import { bazelrcLines, clientUrls } from '../../src/config/bazelrc.js';
import { serviceBindings } from '../../src/config/service-bindings.js';
import { summarizeConfig } from '../../src/config/summary.js';
import { collectWarnings } from '../../src/config/warnings.js';
import { baseConfig, issuesOf, parse } from './helpers.js';

function withHttpCache(listener: Record<string, unknown>, services: Record<string, unknown> = { cas: [{ cas_store: 'CAS' }], ac: [{ ac_store: 'AC' }] }) {
  const c = baseConfig();
  c.stores.push({ name: 'AC', memory: {} });
  c.servers[0].services.ac = [{ ac_store: 'AC' }];
  c.servers.push({ name: 'bazel-http', listener: { http_cache: listener }, services });
  return c;
}

describe('listener.http_cache', () => {
  it('reads its address, limits and services into a ServerSpec marked http_cache, bound to the same stores', () => {
    const config = parse(withHttpCache({ socket_address: '127.0.0.1:8080', limits: { max_upload_size: '1gb', upload_stall_timeout: '30s' } }));
    const server = config.servers[1]!;
    expect(server.listener).toEqual({ http: { socket_address: '127.0.0.1:8080', limits: { max_upload_size: 1e9, upload_stall_timeout: 30 } }, protocol: 'http_cache' });
    expect(serviceBindings(config).filter((b) => b.server === 1).map((b) => [b.service, b.store])).toEqual([
      ['cas', 'CAS'],
      ['ac', 'AC'],
    ]);
    expect(summarizeConfig(config)).toContain('127.0.0.1:8080 (cas, ac');
  });

  it('refuses the gRPC-only keys, services Bazel cannot use over HTTP, and a listener without cas or ac', () => {
    expect(issuesOf(withHttpCache({ socket_address: '127.0.0.1:0', max_decoding_message_size: '8mb', limits: { max_encoding_message_size: '8mb' } }))).toEqual([
      expect.stringMatching(/^servers\[1\]\.listener\.http_cache\.max_decoding_message_size: .*tunes the gRPC listener/),
      expect.stringMatching(/^servers\[1\]\.listener\.http_cache\.limits\.max_encoding_message_size: .*bounds gRPC messages/),
    ]);
    expect(issuesOf(withHttpCache({ socket_address: '127.0.0.1:0' }, { cas: [{ cas_store: 'CAS' }], bytestream: { cas_stores: { '': 'CAS' } } }))).toEqual([
      expect.stringMatching(/^servers\[1\]\.services\.bytestream: an http_cache listener serves only cas and ac .*has no bytestream/),
    ]);
    expect(issuesOf(withHttpCache({ socket_address: '127.0.0.1:0' }, {}))).toEqual([expect.stringMatching(/^servers\[1\]\.services: an http_cache listener needs cas and\/or ac/)]);
  });

  it('is one kind or the other, and names its own key when its address clashes', () => {
    const both = withHttpCache({ socket_address: '127.0.0.1:0' });
    both.servers[1].listener.http = { socket_address: '127.0.0.1:0' };
    expect(issuesOf(both)).toEqual([expect.stringMatching(/^servers\[1\]\.listener\.http_cache: a listener is either http \(gRPC\) or http_cache/)]);
    const clash = withHttpCache({ socket_address: '127.0.0.1:9000' });
    clash.servers[0].listener.http.socket_address = '127.0.0.1:9000';
    expect(issuesOf(clash)).toEqual(['servers[1].listener.http_cache.socket_address: 127.0.0.1:9000 is already used by servers[0]']);
  });

  it('gets no gRPC warnings (capabilities, bytestream), and the exposure warning under its own key', () => {
    const config = parse(withHttpCache({ socket_address: '0.0.0.0:8080' }));
    const warnings = collectWarnings(config).filter((w) => w.startsWith('servers[1]'));
    expect(warnings).toEqual([expect.stringMatching(/^servers\[1\]\.listener\.http_cache\.socket_address: 0\.0\.0\.0:8080 is reachable from other machines/)]);
  });

  it('gives http:// URLs and a commented HTTP alternative after the gRPC .bazelrc line', () => {
    const config = parse(withHttpCache({ socket_address: '0.0.0.0:0' }));
    expect(clientUrls(config, ['127.0.0.1:50051', '0.0.0.0:8080'])).toEqual(['grpc://127.0.0.1:50051', 'http://0.0.0.0:8080']);
    expect(bazelrcLines(config, ['127.0.0.1:50051', '0.0.0.0:8080'])).toEqual([
      'build --remote_cache=grpc://127.0.0.1:50051',
      "# or over Bazel's HTTP/1.1 cache protocol instead:",
      '# build --remote_cache=http://127.0.0.1:8080',
    ]);
  });

  it('points Bazel at the HTTP listener when it is the only cache, with the instance as the URL path', () => {
    const c = withHttpCache({ socket_address: '127.0.0.1:0' }, { cas: [{ instance_name: 'main', cas_store: 'CAS' }], ac: [{ instance_name: 'main', ac_store: 'AC' }] });
    delete c.servers[0].services.ac;
    const config = parse(c);
    expect(bazelrcLines(config, ['127.0.0.1:50051', '127.0.0.1:8080'])).toEqual(['build --remote_cache=http://127.0.0.1:8080/main']);
  });
});
