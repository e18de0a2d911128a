import { describe, expect, it } from 'vitest';
import { bazelrcLines, clientUrls } from '../../src/config/bazelrc.js';
import { parseConfigText } from '../../src/config/load.js';

function config(servers: object[], schedulers: object[] = []) {
  return parseConfigText(JSON.stringify({ stores: [{ name: 'CAS', memory: {} }, { name: 'AC', memory: {} }], servers, schedulers }), 'test.json5');
}

const cacheServer = (address: string, instance: string) => ({
  listener: { http: { socket_address: address } },
  services: { cas: [{ instance_name: instance, cas_store: 'CAS' }], ac: [{ instance_name: instance, ac_store: 'AC' }] },
});

describe('bazelrcLines', () => {
  it('points Bazel at the first server with a CAS and an AC, with its instance name', () => {
    const c = config([
      { listener: { http: { socket_address: '127.0.0.1:0' } }, services: { health: {} } },
      cacheServer('0.0.0.0:50051', 'main'),
    ]);
    expect(bazelrcLines(c, ['127.0.0.1:4000', '0.0.0.0:50051'])).toEqual([
      'build --remote_cache=grpc://127.0.0.1:50051',
      'build --remote_instance_name=main',
    ]);
  });

  it('names the tokens file of a listener with auth, and the header to fill in, never a token', () => {
    const c = config([cacheServer('0.0.0.0:50051', '')]);
    c.servers[0]!.listener.http.auth = { tokens_file: '/etc/ncache/auth-tokens.txt', allow_unauthenticated_reads: false };
    expect(bazelrcLines(c, ['0.0.0.0:50051'])).toEqual([
      'build --remote_cache=grpc://127.0.0.1:50051',
      '# in a user-private bazelrc, with a token from /etc/ncache/auth-tokens.txt:',
      '# build --remote_header=authorization=Bearer <token>',
    ]);
  });

  it('leaves the instance flag out for the empty instance name and reaches [::] on [::1]', () => {
    expect(bazelrcLines(config([cacheServer('[::]:0', '')]), ['[::]:41234'])).toEqual(['build --remote_cache=grpc://[::1]:41234']);
  });

  it('says grpcs:// for a TLS listener, with the CA flag to fill in, and the client certificate flags for mTLS', () => {
    const c = config([{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { health: {} } }, cacheServer('0.0.0.0:50051', '')]);
    c.servers[1]!.listener.http.tls = { cert_file: '/etc/ncache/server.pem', key_file: '/etc/ncache/server.key' };
    expect(clientUrls(c, ['127.0.0.1:4000', '0.0.0.0:50051'])).toEqual(['grpc://127.0.0.1:4000', 'grpcs://0.0.0.0:50051']);
    const tlsLines = [
      'build --remote_cache=grpcs://127.0.0.1:50051',
      '# unless a CA the JVM trusts signed /etc/ncache/server.pem, give Bazel the CA that did:',
      '# build --tls_certificate=<CA certificate, PEM>',
    ];
    expect(bazelrcLines(c, ['127.0.0.1:4000', '0.0.0.0:50051'])).toEqual(tlsLines);

    c.servers[1]!.listener.http.tls.client_ca_file = '/etc/ncache/clients-ca.pem';
    expect(bazelrcLines(c, ['127.0.0.1:4000', '0.0.0.0:50051'])).toEqual([
      ...tlsLines,
      "# mTLS: this client's certificate, signed by a CA in /etc/ncache/clients-ca.pem, and its key (PKCS#8 PEM):",
      '# build --tls_client_certificate=<client certificate, PEM>',
      '# build --tls_client_key=<client private key, PEM>',
    ]);
  });

  it('adds --remote_executor when that server executes actions for the same instance, and not for another one', () => {
    const withExecution = (instance: string) => {
      const server = cacheServer('0.0.0.0:50051', 'main');
      const execution = [{ instance_name: instance, cas_store: 'CAS', scheduler: 'S' }];
      return config([{ ...server, services: { ...server.services, execution } }], [{ name: 'S', simple: {} }]);
    };
    expect(bazelrcLines(withExecution('main'), ['0.0.0.0:50051'])).toEqual([
      'build --remote_cache=grpc://127.0.0.1:50051',
      'build --remote_executor=grpc://127.0.0.1:50051',
      'build --remote_instance_name=main',
    ]);
    expect(bazelrcLines(withExecution('other'), ['0.0.0.0:50051'])).toEqual([
      'build --remote_cache=grpc://127.0.0.1:50051',
      'build --remote_instance_name=main',
    ]);
  });

  it('says so when no server offers both a CAS and an action cache', () => {
    const c = config([{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { cas: [{ cas_store: 'CAS' }] } }]);
    expect(bazelrcLines(c, ['127.0.0.1:4000'])).toEqual(['# no server in this config offers both a CAS and an action cache']);
  });
});
