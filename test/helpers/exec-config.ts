// A remote execution config in NativeLink's basic_cas layout, for the
// real-Bazel execution test and the execution benchmark: a filesystem CAS
// (verify in front) and a filesystem AC (completeness_checking), the `simple`
// scheduler, one `local` worker whose cas_fast_slow_store has its own
// filesystem fast tier over the main CAS, and two listeners: the public one
// (CAS, AC, ByteStream, Capabilities with remote_execution, Execution,
// Health) and a worker_api listener that the worker's endpoint names.
import { join } from 'node:path';
import { DaemonFixture } from './daemon-process.js';
import { closedPort } from './ports.js';
import { renderExecConfig } from '../../src/commands/init/run.js';
import { execConfigOnFreePorts } from './template-configs.js';

export interface ExecConfigOptions {
  /** Directory for the stores' content, temp dirs and the worker's work_directory. */
  dataDir: string;
  /** The worker_api listener's port, which the worker's worker_api_endpoint names. */
  workerApiPort: number;
  instanceName?: string;
  /** The worker's slots (its `cpu_count` platform property). Default 2. */
  cpuCount?: number;
}

export const EXEC_SCHEDULER = 'MAIN_SCHEDULER';

export function execConfigText(opts: ExecConfigOptions): string {
  const instance = opts.instanceName ?? '';
  const filesystem = (name: string, maxBytes: string) => ({
    filesystem: {
      content_path: join(opts.dataDir, name, 'content'),
      temp_path: join(opts.dataDir, name, 'tmp'),
      eviction_policy: { max_bytes: maxBytes },
    },
  });
  const config = {
    stores: [
      { name: 'CAS_MAIN_STORE', verify: { verify_size: true, verify_hash: true, backend: filesystem('cas', '20gb') } },
      {
        name: 'AC_MAIN_STORE',
        completeness_checking: { backend: filesystem('ac', '1gb'), cas_store: { ref_store: { name: 'CAS_MAIN_STORE' } } },
      },
      {
        name: 'WORKER_FAST_SLOW_STORE',
        fast_slow: { fast: filesystem('worker-cas', '20gb'), slow: { ref_store: { name: 'CAS_MAIN_STORE' } } },
      },
    ],
    schedulers: [
      {
        name: EXEC_SCHEDULER,
        simple: { supported_platform_properties: { cpu_count: 'minimum', OSFamily: 'priority', 'container-image': 'priority' } },
      },
    ],
    workers: [
      {
        local: {
          worker_api_endpoint: { uri: `grpc://127.0.0.1:${opts.workerApiPort}` },
          cas_fast_slow_store: 'WORKER_FAST_SLOW_STORE',
          upload_action_result: { ac_store: 'AC_MAIN_STORE' },
          work_directory: join(opts.dataDir, 'work'),
          platform_properties: { cpu_count: { values: [String(opts.cpuCount ?? 2)] }, OSFamily: { values: ['Linux'] } },
        },
      },
    ],
    servers: [
      {
        name: 'public',
        listener: { http: { socket_address: '127.0.0.1:0' } },
        services: {
          cas: [{ instance_name: instance, cas_store: 'CAS_MAIN_STORE' }],
          ac: [{ instance_name: instance, ac_store: 'AC_MAIN_STORE' }],
          execution: [{ instance_name: instance, cas_store: 'CAS_MAIN_STORE', scheduler: EXEC_SCHEDULER }],
          capabilities: [{ instance_name: instance, remote_execution: { scheduler: EXEC_SCHEDULER } }],
          bytestream: { cas_stores: { [instance]: 'CAS_MAIN_STORE' } },
          health: {},
        },
      },
      {
        name: 'worker_api',
        listener: { http: { socket_address: `127.0.0.1:${opts.workerApiPort}` } },
        services: { worker_api: { scheduler: EXEC_SCHEDULER }, health: {} },
      },
    ],
  };
  return `// ncache remote execution test config (written by test/helpers/exec-config.ts)\n${JSON.stringify(config, null, 2)}\n`;
}

/**
 * A DaemonFixture on execConfigText. The worker_api port is picked free at
 * creation (bound, then released): the worker's endpoint must name it before
 * the daemon starts, so it cannot be port 0. The public listener is the first
 * server, so the fixture's readiness line and `url` are Bazel's endpoint.
 */
export async function execDaemonFixture(opts: Omit<ExecConfigOptions, 'dataDir' | 'workerApiPort'> = {}): Promise<DaemonFixture> {
  const workerApiPort = await closedPort();
  return DaemonFixture.withLayout({
    prefix: 'ncache-exec-',
    configText: (dataDir) => execConfigText({ ...opts, dataDir, workerApiPort }),
    env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
    stopTimeoutMs: 15_000,
  });
}

/** A DaemonFixture on what `ncache init --exec` writes (one filesystem CAS the worker links from), its stores under the fixture's data dir. */
export async function initExecDaemonFixture(): Promise<DaemonFixture> {
  const text = await execConfigOnFreePorts(renderExecConfig());
  return DaemonFixture.withLayout({
    prefix: 'ncache-init-exec-',
    configText: (dataDir) => text.replaceAll('${NCACHE_CACHE_DIR}', dataDir),
    env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
    stopTimeoutMs: 15_000,
  });
}
