// Starts the daemon in-process on 127.0.0.1:0 with a small config built in
// code, plus a real gRPC client pointed at it. Temp dirs are removed on stop.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalWorkerSpec, NcacheConfig, ServerSpec, StoreSpec } from '../../src/config/types.js';
import { closedPort } from '../helpers/ports.js';
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.js';
import { type Logger, silentLogger } from '../../src/util/logger.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { simpleSpec } from '../scheduler/scripted-worker.js';

export interface FixtureOptions {
  /** Backing store of the CAS and AC. Default memory. */
  storeKind?: 'memory' | 'filesystem';
  instanceName?: string;
  /** Wrap the AC in completeness_checking against the CAS. Default true. */
  completeness?: boolean;
  readOnlyAc?: boolean;
  /** Configure an execution service (and its capabilities) for the instance. */
  execution?: boolean;
  /**
   * With `execution`: a local worker in NativeLink's basic_cas layout (a
   * filesystem-fronted cas_fast_slow_store over the CAS, results into the AC,
   * and a second listener on a free port serving worker_api).
   */
  worker?: Partial<Pick<LocalWorkerSpec, 'platform_properties' | 'entrypoint' | 'max_action_timeout'>> & { workerApiPort?: number };
  maxBytesPerStream?: number;
  resumeTimeoutSeconds?: number;
  /** Change the generated config before starting. */
  edit?: (config: NcacheConfig) => void;
  logger?: Logger;
}

export interface Fixture {
  readonly daemon: RunningDaemon;
  readonly address: string;
  readonly client: ReapiClient;
  readonly config: NcacheConfig;
  readonly dir: string;
  stop(graceMs?: number): Promise<void>;
}

export function fixtureConfig(dir: string, opts: FixtureOptions = {}): NcacheConfig {
  const instance = opts.instanceName ?? '';
  const leaf = (name: string): StoreSpec =>
    opts.storeKind === 'filesystem'
      ? {
          kind: 'filesystem',
          content_path: join(dir, name, 'content'),
          temp_path: join(dir, name, 'tmp'),
          read_buffer_size: 256 * 1024,
          block_size: 4096,
        }
      : { kind: 'memory' };
  const acStore: StoreSpec =
    opts.completeness === false
      ? leaf('ac')
      : { kind: 'completeness_checking', backend: leaf('ac'), cas_store: { kind: 'ref_store', name: 'CAS' } };
  const services: ServerSpec['services'] = {
    cas: [{ instance_name: instance, cas_store: 'CAS' }],
    ac: [{ instance_name: instance, ac_store: 'AC', read_only: opts.readOnlyAc ?? false }],
    capabilities: [{ instance_name: instance }],
    bytestream: {
      cas_stores: { [instance]: 'CAS' },
      max_bytes_per_stream: opts.maxBytesPerStream ?? 64 * 1024,
      persist_stream_on_disconnect_timeout: opts.resumeTimeoutSeconds ?? 60,
    },
    health: {},
  };
  const schedulers: NcacheConfig['schedulers'] = [];
  if (opts.execution) {
    services.execution = [{ instance_name: instance, cas_store: 'CAS', scheduler: 'MAIN' }];
    services.capabilities = [{ instance_name: instance, remote_execution: { scheduler: 'MAIN' } }];
    schedulers.push({ name: 'MAIN', spec: simpleSpec() });
  }
  const config: NcacheConfig = {
    stores: [
      { name: 'CAS', spec: leaf('cas') },
      { name: 'AC', spec: acStore },
    ],
    schedulers,
    servers: [{ name: 'main', listener: { http: { socket_address: '127.0.0.1:0' } }, services }],
    workers: [],
    global: { max_open_files: 512, default_digest_hash_function: 'sha256', default_digest_size_health_check: 0 },
    source: '<test fixture>',
  };
  if (opts.execution && opts.worker) addWorker(config, dir, opts.worker);
  opts.edit?.(config);
  return config;
}

function addWorker(config: NcacheConfig, dir: string, worker: NonNullable<FixtureOptions['worker']>): void {
  const port = worker.workerApiPort ?? 50061;
  config.stores.push({
    name: 'WORKER_CAS',
    spec: {
      kind: 'fast_slow',
      fast: { kind: 'filesystem', content_path: join(dir, 'worker-cas'), temp_path: join(dir, 'worker-tmp'), read_buffer_size: 256 * 1024, block_size: 4096 },
      slow: { kind: 'ref_store', name: 'CAS' },
      fast_direction: 'both',
      slow_direction: 'both',
    },
  });
  config.servers.push({
    name: 'worker_api',
    listener: { http: { socket_address: `127.0.0.1:${port}` } },
    services: { worker_api: { scheduler: 'MAIN' }, health: {} },
  });
  const spec: LocalWorkerSpec = {
    kind: 'local',
    worker_api_endpoint: { uri: `grpc://127.0.0.1:${port}`, timeout: 5 },
    cas_fast_slow_store: 'WORKER_CAS',
    work_directory: join(dir, 'work'),
    platform_properties: worker.platform_properties ?? {},
    upload_action_result: { ac_store: 'AC', upload_ac_results_strategy: 'success_only' },
    max_action_timeout: worker.max_action_timeout ?? 60,
  };
  if (worker.entrypoint !== undefined) spec.entrypoint = worker.entrypoint;
  config.workers.push(spec);
}

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'ncache-daemon-test-'));
  // The worker_api listener needs a port known before binding: the worker's endpoint names it.
  const worker = opts.worker && { ...opts.worker, workerApiPort: opts.worker.workerApiPort ?? (await closedPort()) };
  const config = fixtureConfig(dir, { ...opts, worker });
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon({ config, logger: opts.logger ?? silentLogger, stateDir: join(dir, 'state') });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const address = daemon.addresses[0]!;
  const client = new ReapiClient(address);
  let stopped = false;
  return {
    daemon,
    address,
    client,
    config,
    dir,
    async stop(graceMs = 2000) {
      if (stopped) return;
      stopped = true;
      client.close();
      await daemon.stop({ graceMs });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
