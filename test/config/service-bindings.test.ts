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
