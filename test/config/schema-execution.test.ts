// Schedulers, workers and global settings.
import { describe, expect, it } from 'vitest';
import { baseConfig, issuesOf, parse } from './helpers.js';

function withSchedulers(schedulers: unknown) {
  const c = baseConfig();
  c.schedulers = schedulers;
  return c;
}

function withWorker(local: Record<string, unknown>) {
  const c = baseConfig();
  c.stores.push({ name: 'WORKER_FS', fast_slow: { fast: { filesystem: { content_path: '/w/cas', temp_path: '/w/tmp' } }, slow: { ref_store: { name: 'CAS' } } } });
  c.stores.push({ name: 'AC', memory: {} });
  // The listener the worker's endpoint names, serving the scheduler it works for.
  c.schedulers = [{ name: 'MAIN', simple: {} }];
  c.servers.push({ listener: { http: { socket_address: '127.0.0.1:50061' } }, services: { worker_api: { scheduler: 'MAIN' } } });
  c.workers = [
    {
      local: {
        worker_api_endpoint: { uri: 'grpc://127.0.0.1:50061' },
        cas_fast_slow_store: 'WORKER_FS',
        work_directory: '/w/work',
        ...local,
      },
    },
  ];
  return c;
}

describe('schedulers', () => {
  it('simple, with NativeLink defaults', () => {
    expect(parse(withSchedulers([{ name: 'MAIN', simple: {} }])).schedulers).toEqual([
      {
        name: 'MAIN',
        spec: {
          kind: 'simple',
          supported_platform_properties: {},
          retain_completed_for_s: 60,
          client_action_timeout_s: 60,
          worker_timeout_s: 5,
          max_job_retries: 3,
          allocation_strategy: 'least_recently_used',
          max_action_executing_timeout_s: 0,
          worker_match_logging_interval_s: 10,
        },
      },
    ]);
  });

  it('reads every simple field', () => {
    const spec = parse(
      withSchedulers([
        {
          name: 'MAIN',
          simple: {
            supported_platform_properties: { cpu_count: 'minimum', OSFamily: 'exact', pool: 'priority', 'lre-rs': 'ignore' },
            retain_completed_for_s: '2m',
            client_action_timeout_s: 30,
            worker_timeout_s: '10s',
            max_job_retries: 1,
            allocation_strategy: 'most_recently_used',
            max_action_executing_timeout_s: '1h',
            worker_match_logging_interval_s: -1,
            experimental_backend: 'memory',
          },
        },
      ]),
    ).schedulers[0]!.spec;
    expect(spec).toMatchObject({
      supported_platform_properties: { cpu_count: 'minimum', OSFamily: 'exact', pool: 'priority', 'lre-rs': 'ignore' },
      retain_completed_for_s: 120,
      client_action_timeout_s: 30,
      worker_timeout_s: 10,
      max_job_retries: 1,
      allocation_strategy: 'most_recently_used',
      max_action_executing_timeout_s: 3600,
      worker_match_logging_interval_s: -1,
    });
  });

  it('reports bad values, unsupported kinds and a missing kind', () => {
    expect(
      issuesOf(
        withSchedulers([
          { name: 'A', simple: { supported_platform_properties: { cpu: 'maximum', 'lre-rs': 'exact' }, allocation_strategy: 'random' } },
          { name: 'B', historical_resource: { hints_file: 'h.json', scheduler: { simple: {} } } },
          { name: 'C' },
          { simple: {} },
          { name: 'D', simple: { experimental_backend: { redis: { redis_store: 'R' } } } },
        ]),
      ),
    ).toEqual([
      'schedulers[0].simple.supported_platform_properties.cpu: expected one of "minimum", "exact", "priority", "ignore", got "maximum"',
      'schedulers[0].simple.allocation_strategy: expected one of "least_recently_used", "most_recently_used", got "random"',
      'schedulers[1].historical_resource: scheduler kind "historical_resource" is not supported by ncache; size actions with platform properties instead',
      'schedulers[2]: missing scheduler kind (expected one of simple, grpc, cache_lookup, property_modifier: { ... })',
      'schedulers[3].name: missing required field (expected a name for execution services to refer to)',
      'schedulers[4].simple.experimental_backend.redis: a Redis scheduler backend is not supported by ncache (state is kept in memory)',
    ]);
  });

  it('reads the older map form keyed by name', () => {
    expect(parse(withSchedulers({ MAIN: { simple: { max_job_retries: 7 } } })).schedulers).toMatchObject([
      { name: 'MAIN', spec: { kind: 'simple', max_job_retries: 7 } },
    ]);
  });
});

describe('nested schedulers (cache_lookup, property_modifier)', () => {
  const nested = (spec: Record<string, unknown>) => {
    const c = withSchedulers([{ name: 'MAIN', ...spec }]);
    c.stores.push({ name: 'AC', memory: {} });
    return c;
  };

  it('nest another scheduler inline, any depth, modifications kept in order', () => {
    const config = parse(
      nested({
        cache_lookup: {
          ac_store: 'AC',
          scheduler: {
            property_modifier: {
              modifications: [{ add: { name: 'container-image', value: 'docker://x' } }, { remove: 'OSFamily' }, { replace: { name: 'a', new_name: 'b', new_value: '2' } }],
              scheduler: { simple: { max_job_retries: 7 } },
            },
          },
        },
      }),
    );
    expect(config.schedulers).toMatchObject([
      {
        name: 'MAIN',
        spec: {
          kind: 'cache_lookup',
          ac_store: 'AC',
          scheduler: {
            kind: 'property_modifier',
            modifications: [{ add: { name: 'container-image', value: 'docker://x' } }, { remove: 'OSFamily' }, { replace: { name: 'a', new_name: 'b', new_value: '2' } }],
            scheduler: { kind: 'simple', max_job_retries: 7, retain_completed_for_s: 60 },
          },
        },
      },
    ]);
  });

  it('errors name the full path through the nesting', () => {
    expect(
      issuesOf(
        nested({
          cache_lookup: {
            ac_store: 'NOPE',
            scheduler: {
              property_modifier: {
                modifications: [{ add: { name: 'x' } }, { remove: 'a', add: { name: 'b', value: 'c' } }, { rename: 'y' }],
                scheduler: { simple: { max_job_retries: 'many' } },
              },
            },
          },
        }),
      ),
    ).toEqual([
      'schedulers[0].cache_lookup.scheduler.property_modifier.modifications[0].add.value: missing required field',
      'schedulers[0].cache_lookup.scheduler.property_modifier.modifications[1]: expected exactly one of add: { name, value }, remove: "name", replace: { name, new_name, ... }; got add and remove',
      'schedulers[0].cache_lookup.scheduler.property_modifier.modifications[2]: expected exactly one of add: { name, value }, remove: "name", replace: { name, new_name, ... }; got none',
      'schedulers[0].cache_lookup.scheduler.property_modifier.modifications[2].rename: unknown field (expected one of: add, remove, replace)',
      'schedulers[0].cache_lookup.scheduler.property_modifier.scheduler.simple.max_job_retries: expected a whole number, got "many"',
      'schedulers[0].cache_lookup.ac_store: store "NOPE" does not exist (defined stores: "CAS", "AC")',
    ]);
  });

  it('a nested scheduler is required, has exactly one kind, and no name', () => {
    expect(
      issuesOf(
        withSchedulers([
          { name: 'A', property_modifier: { modifications: [] } },
          { name: 'B', property_modifier: { modifications: [], scheduler: {} } },
          { name: 'C', property_modifier: { modifications: [], scheduler: { name: 'X', simple: {} } } },
          { name: 'D', simple: {}, property_modifier: { modifications: [], scheduler: { simple: {} } } },
        ]),
      ),
    ).toEqual([
      'schedulers[0].property_modifier.scheduler: missing required field (expected { simple: { ... } })',
      'schedulers[1].property_modifier.scheduler: missing scheduler kind (expected one of simple, grpc, cache_lookup, property_modifier: { ... })',
      'schedulers[2].property_modifier.scheduler.name: unknown field (expected one of: historical_resource, simple, grpc, cache_lookup, property_modifier)',
      "schedulers[3]: a scheduler has one kind, got simple and property_modifier; nest one in the other's `scheduler` field instead",
    ]);
  });
});

describe('grpc scheduler', () => {
  it("reads NativeLink's GrpcSpec keys into the shared upstream connection", () => {
    const config = parse(
      withSchedulers([
        {
          name: 'REMOTE',
          grpc: { endpoint: { address: 'grpc://10.0.0.5:8980' }, retry: { max_retries: 4, delay: 0.5, jitter: 0.2 }, max_concurrent_requests: 64, connections_per_endpoint: 2 },
        },
        { name: 'DEFAULTS', property_modifier: { modifications: [{ add: { name: 'container-image', value: 'docker://x' } }], scheduler: { grpc: { endpoint: { address: 'grpc://c:1' } } } } },
      ]),
    );
    expect(config.schedulers[0]).toEqual({
      name: 'REMOTE',
      spec: {
        kind: 'grpc',
        connection: {
          endpoints: [{ address: 'grpc://10.0.0.5:8980', concurrency_limit: 0, http2_keepalive_interval_s: 0, http2_keepalive_timeout_s: 0 }],
          retry: { max_retries: 4, delay: 0.5, jitter: 0.2 },
          max_concurrent_requests: 64,
          connections_per_endpoint: 2,
          rpc_timeout_s: 0,
          headers: {},
        },
      },
    });
    expect(config.schedulers[1]).toMatchObject({
      spec: { kind: 'property_modifier', scheduler: { kind: 'grpc', connection: { retry: { max_retries: 0 }, max_concurrent_requests: 0, connections_per_endpoint: 1 } } },
    });
  });

  it('errors name the path, endpoint included', () => {
    expect(
      issuesOf(
        withSchedulers([
          { name: 'A', grpc: {} },
          { name: 'B', cache_lookup: { ac_store: 'CAS', scheduler: { grpc: { endpoint: { address: 'http://x:1' }, max_concurrent_requests: -1 } } } },
        ]),
      ),
    ).toEqual([
      'schedulers[0].grpc.endpoint: missing required field (expected { address: "grpc://host:port" })',
      'schedulers[1].cache_lookup.scheduler.grpc.endpoint.address: expected a grpc:// or grpcs:// address like grpc://10.0.0.5:8980 or grpcs://cache.example.com, got "http://x:1"',
      'schedulers[1].cache_lookup.scheduler.grpc.max_concurrent_requests: expected a whole number of at least 0, got -1',
    ]);
  });

  it('a worker whose scheduler is grpc inside (it runs actions elsewhere) is refused, naming the innermost path', () => {
    const c = withWorker({});
    c.schedulers = [{ name: 'MAIN', property_modifier: { modifications: [], scheduler: { grpc: { endpoint: { address: 'grpc://c:1' } } } } }];
    expect(issuesOf(c)).toEqual([
      'workers[0].local.worker_api_endpoint: it reaches scheduler "MAIN", whose innermost kind (schedulers[0].property_modifier.scheduler) is grpc: it runs actions elsewhere, so no worker can serve it. ' +
        'Point this worker at a listener whose worker_api names a scheduler built on simple',
    ]);
  });
});

describe('workers', () => {
  it('local, with defaults', () => {
    expect(parse(withWorker({})).workers).toEqual([
      {
        kind: 'local',
        worker_api_endpoint: { uri: 'grpc://127.0.0.1:50061', timeout: 5 },
        cas_fast_slow_store: 'WORKER_FS',
        work_directory: '/w/work',
        platform_properties: {},
        upload_action_result: {
          upload_ac_results_strategy: 'success_only',
          upload_historical_results_strategy: 'failures_only',
          success_message_template: '',
          failure_message_template: '',
        },
        max_action_timeout: 1200,
      },
    ]);
  });

  it('reads every local field', () => {
    const w = parse(
      withWorker({
        name: 'w1',
        work_directory: '~/work',
        platform_properties: { cpu_count: { values: ['8'] }, OSFamily: { values: ['Linux'] } },
        upload_action_result: { ac_store: 'AC', upload_ac_results_strategy: 'everything', historical_results_store: 'CAS' },
        max_action_timeout: '30m',
        entrypoint: '/usr/bin/env',
        timeout_handled_externally: true,
        additional_environment: { PATH: { value: '/bin' }, CPUS: { property: 'cpu_count' }, TIMEOUT: 'timeout_millis' },
        experimental_precondition_script: '/opt/check.sh',
      }),
    ).workers[0]!;
    expect(w).toMatchObject({
      name: 'w1',
      work_directory: '/home/tester/work',
      platform_properties: { cpu_count: { values: ['8'] }, OSFamily: { values: ['Linux'] } },
      upload_action_result: { ac_store: 'AC', upload_ac_results_strategy: 'everything', historical_results_store: 'CAS' },
      max_action_timeout: 1800,
      entrypoint: '/usr/bin/env',
      timeout_handled_externally: true,
      additional_environment: { PATH: { value: '/bin' }, CPUS: { property: 'cpu_count' }, TIMEOUT: 'timeout_millis' },
      experimental_precondition_script: '/opt/check.sh',
    });
  });

  it('reads the ncache extensions of local and rejects bad values', () => {
    const w = parse(withWorker({ keep_failed_action_directories: true, max_input_tree_depth: 10, max_input_tree_entries: '5000' })).workers[0]!;
    expect(w).toMatchObject({ keep_failed_action_directories: true, max_input_tree_depth: 10, max_input_tree_entries: 5000 });
    expect(issuesOf(withWorker({ keep_failed_action_directories: 'yes', max_input_tree_depth: 0 }))).toEqual([
      'workers[0].local.keep_failed_action_directories: expected true or false, got "yes"',
      'workers[0].local.max_input_tree_depth: expected a whole number of at least 1, got 0',
    ]);
  });

  it('reports bad worker configs', () => {
    expect(
      issuesOf(
        withWorker({
          worker_api_endpoint: { uri: 'https://sched:443', tls_config: {} },
          platform_properties: { cpu: { query_cmd: 'nproc' }, os: 'linux' },
          additional_environment: { X: 'sometimes' },
        }),
      ),
    ).toEqual([
      'workers[0].local.worker_api_endpoint.tls_config: TLS to the worker API is not supported by ncache; use a grpc:// uri',
      'workers[0].local.worker_api_endpoint.uri: expected a grpc:// URI (TLS is not supported), got "https://sched:443"',
      'workers[0].local.platform_properties.cpu.query_cmd: query_cmd platform properties are not supported by ncache; list the values instead',
      'workers[0].local.platform_properties.os: expected an object, got "linux"',
      'workers[0].local.additional_environment.X: expected one of "timeout_millis", "side_channel_file", "action_directory", { property: "..." } or { value: "..." }, got "sometimes"',
    ]);
    const c = baseConfig();
    c.workers = [{ remote: {} }, {}, { local: { worker_api_endpoint: { uri: 'grpc://x:1' }, cas_fast_slow_store: 'CAS' } }];
    expect(issuesOf(c)).toEqual([
      'workers[0].remote: worker kind "remote" is not supported by ncache (supported: local)',
      'workers[1]: missing worker kind (expected local: { ... })',
      'workers[2].local.work_directory: missing required field (expected a directory path)',
      'workers[2].local.worker_api_endpoint: "grpc://x:1" reaches no listener of this config with services.worker_api (no listener has services.worker_api); local workers run inside the daemon and serve the scheduler of the worker_api listener their endpoint names',
    ]);
  });
});

describe('global', () => {
  it('defaults: 512 open files, sha256, 1 MiB health-check digest', () => {
    expect(parse(baseConfig()).global).toEqual({
      max_open_files: 512,
      default_digest_hash_function: 'sha256',
      default_digest_size_health_check: 1_048_576,
    });
  });

  it('reads every field', () => {
    const c = baseConfig();
    c.global = {
      max_open_files: 24_576,
      default_digest_hash_function: 'sha256',
      default_digest_size_health_check: '4kb',
      idle_file_descriptor_timeout_millis: 100,
      disable_metrics: true,
    };
    expect(parse(c).global).toEqual({
      max_open_files: 24_576,
      default_digest_hash_function: 'sha256',
      default_digest_size_health_check: 4000,
      idle_file_descriptor_timeout_millis: 100,
      disable_metrics: true,
    });
  });

  it('only sha256 is supported', () => {
    const c = baseConfig();
    c.global = { default_digest_hash_function: 'blake3' };
    expect(issuesOf(c)).toEqual(['global.default_digest_hash_function: blake3 is not supported by ncache (only "sha256")']);
    c.global = { default_digest_hash_function: 'md5' };
    expect(issuesOf(c)).toEqual(['global.default_digest_hash_function: expected "sha256", got "md5"']);
  });
});
