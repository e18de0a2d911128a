import { describe, expect, it } from 'vitest';
import { bazelrcLines } from '../../src/config/bazelrc.js';
import { parseConfigText } from '../../src/config/load.js';

function config(servers: object[]) {
  return parseConfigText(JSON.stringify({ stores: [{ name: 'CAS', memory: {} }, { name: 'AC', memory: {} }], servers }), 'test.json5');
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

  it('leaves the instance flag out for the empty instance name and reaches [::] on [::1]', () => {
    expect(bazelrcLines(config([cacheServer('[::]:0', '')]), ['[::]:41234'])).toEqual(['build --remote_cache=grpc://[::1]:41234']);
  });

  it('says so when no server offers both a CAS and an action cache', () => {
    const c = config([{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { cas: [{ cas_store: 'CAS' }] } }]);
    expect(bazelrcLines(c, ['127.0.0.1:4000'])).toEqual(['# no server in this config offers both a CAS and an action cache']);
  });
});
