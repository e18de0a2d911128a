// serviceBindings: every store a service uses, with its instance, what it
// holds, and the config field it came from, in one reading of servers[].
import { describe, expect, it } from 'vitest';
import { bindingsOf, serviceBindings, storeForInstance, storesHolding } from '../../src/config/service-bindings.js';
import { baseConfig, parse } from './helpers.js';

function twoServers() {
  const c = baseConfig();
  c.stores = ['CAS', 'CAS2', 'AC', 'EXEC_CAS'].map((name) => ({ name, memory: { eviction_policy: { max_bytes: '1mb' } } }));
  c.schedulers = [{ name: 'SCHED', simple: {} }];
  c.servers[0].services = {
    cas: [
      { instance_name: '', cas_store: 'CAS' },
      { instance_name: 'other', cas_store: 'CAS2' },
    ],
    bytestream: { cas_stores: { '': 'CAS', bs_only: 'CAS2' } },
    ac: [{ instance_name: '', ac_store: 'AC', read_only: true }],
  };
  c.servers.push({
    listener: { http: { socket_address: '127.0.0.1:0' } },
    services: { execution: [{ instance_name: 'exec', cas_store: 'EXEC_CAS', scheduler: 'SCHED' }] },
  });
  return parse(c);
}

describe('serviceBindings', () => {
  it('lists each binding with its service, instance, what it holds and the field it came from', () => {
    expect(serviceBindings(twoServers())).toEqual([
      { service: 'cas', holds: 'cas', store: 'CAS', instance: '', server: 0, path: 'servers[0].services.cas[0].cas_store' },
      { service: 'cas', holds: 'cas', store: 'CAS2', instance: 'other', server: 0, path: 'servers[0].services.cas[1].cas_store' },
      { service: 'bytestream', holds: 'cas', store: 'CAS', instance: '', server: 0, path: 'servers[0].services.bytestream.cas_stores[""]' },
      {
        service: 'bytestream',
        holds: 'cas',
        store: 'CAS2',
        instance: 'bs_only',
        server: 0,
        path: 'servers[0].services.bytestream.cas_stores["bs_only"]',
      },
      { service: 'ac', holds: 'ac', store: 'AC', instance: '', readOnly: true, server: 0, path: 'servers[0].services.ac[0].ac_store' },
      {
        service: 'execution',
        holds: 'cas',
        store: 'EXEC_CAS',
        instance: 'exec',
        scheduler: 'SCHED',
        server: 1,
        path: 'servers[1].services.execution[0].cas_store',
      },
    ]);
  });

  it('answers which stores hold CAS blobs and action results, and which store serves an instance', () => {
    const bindings = serviceBindings(twoServers());
    expect(storesHolding(bindings, 'cas')).toEqual(['CAS', 'CAS2', 'EXEC_CAS']);
    expect(storesHolding(bindings, 'ac')).toEqual(['AC']);
    expect(storeForInstance(bindings, 'cas', 'other')).toBe('CAS2');
    expect(storeForInstance(bindings, 'cas', 'bs_only')).toBe('CAS2');
    expect(storeForInstance(bindings, 'cas', 'exec')).toBe('EXEC_CAS');
    expect(storeForInstance(bindings, 'ac', '')).toBe('AC');
    expect(storeForInstance(bindings, 'ac', 'other')).toBeUndefined();
    expect(bindingsOf(bindings, 'ac').map((b) => b.readOnly)).toEqual([true]);
    expect(bindingsOf(bindings, 'execution').map((b) => b.scheduler)).toEqual(['SCHED']);
  });
});

describe('serviceBindings of workers', () => {
  function withWorkers() {
    const c = baseConfig();
    c.stores.push(
      { name: 'AC', memory: { eviction_policy: { max_bytes: '1mb' } } },
      {
        name: 'WORKER_FAST_SLOW',
        fast_slow: {
          fast: { filesystem: { content_path: '/tmp/ncache-sb/content', temp_path: '/tmp/ncache-sb/tmp', eviction_policy: { max_bytes: '1mb' } } },
          slow: { ref_store: { name: 'CAS' } },
        },
      },
      { name: 'LONE_CAS', memory: { eviction_policy: { max_bytes: '1mb' } } },
    );
    c.schedulers = [{ name: 'SCHED', simple: {} }];
    c.servers.push({ listener: { http: { socket_address: '127.0.0.1:50061' } }, services: { worker_api: { scheduler: 'SCHED' } } });
    const local = (store: string, ac?: string) => ({
      local: {
        worker_api_endpoint: { uri: 'grpc://127.0.0.1:50061' },
        cas_fast_slow_store: store,
        work_directory: '/tmp/ncache-sb/work',
        ...(ac === undefined ? {} : { upload_action_result: { ac_store: ac } }),
      },
    });
    c.workers = [local('WORKER_FAST_SLOW', 'AC'), local('LONE_CAS')];
    return parse(c);
  }

  it('lists each worker store after the servers: its CAS, then its action cache when it uploads results', () => {
    const bindings = serviceBindings(withWorkers());
    expect(bindingsOf(bindings, 'worker')).toEqual([
      { service: 'worker', holds: 'cas', store: 'WORKER_FAST_SLOW', worker: 0, path: 'workers[0].local.cas_fast_slow_store' },
      { service: 'worker', holds: 'ac', store: 'AC', worker: 0, path: 'workers[0].local.upload_action_result.ac_store' },
      { service: 'worker', holds: 'cas', store: 'LONE_CAS', worker: 1, path: 'workers[1].local.cas_fast_slow_store' },
    ]);
    // ls, gc and verify see the workers' stores by what they hold.
    expect(storesHolding(bindings, 'cas')).toEqual(['CAS', 'WORKER_FAST_SLOW', 'LONE_CAS']);
    expect(storesHolding(bindings, 'ac')).toEqual(['AC']);
  });

  it('never answers an instance lookup with a worker store (a worker serves no instance)', () => {
    const bindings = serviceBindings(withWorkers());
    expect(storeForInstance(bindings, 'cas', '')).toBe('CAS');
    expect(storeForInstance(bindings, 'ac', '')).toBeUndefined();
  });
});
