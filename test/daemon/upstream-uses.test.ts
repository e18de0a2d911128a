// Where `ncache status` looks for upstreams (src/daemon/control/upstream-uses.ts),
// on configs read by the real loader: grpc stores deep in a store tree with
// their config paths, and a grpc scheduler nested in property_modifier and
// cache_lookup, once per instance name the execution services send it.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { schedulerUpstreams, storeUpstreams } from '../../src/daemon/control/upstream-uses.js';


const CONFIG = `{
  stores: [
    { name: "CAS", verify: { verify_hash: true, backend: { fast_slow: {
        fast: { memory: {} },
        slow: { grpc: { instance_name: "main", store_type: "cas", endpoints: [{ address: "grpc://10.0.0.5:8980" }], retry: { max_retries: 1, delay: 0.1, jitter: 0 } } } } } } },
    { name: "AC", memory: {} },
  ],
  schedulers: [
    { name: "FORWARD", property_modifier: { modifications: [{ add: { name: "container-image", value: "docker://x" } }],
        scheduler: { cache_lookup: { ac_store: "AC", scheduler: { grpc: { endpoint: { address: "grpc://10.0.0.6:8980" }, retry: { max_retries: 1, delay: 0.1, jitter: 0 } } } } } } },
  ],
  servers: [{ listener: { http: { socket_address: "127.0.0.1:0" } }, services: {
    cas: [{ instance_name: "main", cas_store: "CAS" }, { instance_name: "other", cas_store: "CAS" }],
    execution: [{ instance_name: "main", cas_store: "CAS", scheduler: "FORWARD" }, { instance_name: "other", cas_store: "CAS", scheduler: "FORWARD" }],
  } }],
}`;

describe('the upstreams a config connects to', () => {
  it('finds a grpc store inside verify > fast_slow, and a grpc scheduler nested two deep, per instance it is sent', () => {
    const config = parseConfigText(CONFIG, 'upstreams.json5', {});
    expect(storeUpstreams(config)).toMatchObject([
      {
        usedBy: 'store CAS (cas)',
        configPath: 'stores[0].verify.backend.fast_slow.slow.grpc',
        instanceName: 'main',
        connection: { endpoints: [{ address: 'grpc://10.0.0.5:8980' }] },
      },
    ]);
    const scheduler = schedulerUpstreams(config);
    expect(scheduler.map((u) => [u.usedBy, u.configPath, u.instanceName])).toEqual([
      ['scheduler FORWARD', 'schedulers[0].property_modifier.scheduler.cache_lookup.scheduler.grpc', 'main'],
      ['scheduler FORWARD', 'schedulers[0].property_modifier.scheduler.cache_lookup.scheduler.grpc', 'other'],
    ]);
    expect(scheduler[0]!.connection.endpoints.map((e) => e.address)).toEqual(['grpc://10.0.0.6:8980']);
  });
});
