// `ncache init --exec` and `ncache init --aws --exec` as a user runs them (the
// built CLI in a child process): the config they write validates and holds
// NativeLink's execution layout (scheduler, local worker over a fast_slow
// store whose fast tier is a filesystem, worker_api listener the worker's
// endpoint names, execution and capabilities on the main listener), and
// the .bazelrc lines printed point Bazel's executor at the main listener.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { parseSocketAddress } from '../../src/config/schema-servers.js';
import { resolveRef } from '../../src/config/store-tree.js';
import type { NcacheConfig, StoreSpec } from '../../src/config/types.js';
import { runNcache } from '../helpers/cli-daemon.js';
import { asSimple } from '../scheduler/scripted-worker.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();
let dir = '';
let env: NodeJS.ProcessEnv = {};

beforeEach(async () => {
  dir = await tempDir('ncache-init-exec-', cleanups);
  env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('AWS_') || name.startsWith('NCACHE_')) env[name] = undefined;
  }
  Object.assign(env, { XDG_CONFIG_HOME: join(dir, 'config'), NCACHE_CACHE_DIR: join(dir, 'cache'), NCACHE_STATE_DIR: join(dir, 'state') });
});

const ncache = (args: string[]) => runNcache(args, { env, cwd: dir });

interface InitExecJson {
  path: string;
  replaced: boolean;
  execution: {
    scheduler: string;
    worker: string;
    workDirectory: string;
    workerApiEndpoint: string;
    platformProperties: Record<string, string[]>;
    bazelrcLines: string[];
  };
}

/** The store a named store resolves to through ref_stores. */
function resolved(config: NcacheConfig, name: string): StoreSpec {
  const named = config.stores.find((s) => s.name === name);
  const spec = named && resolveRef(named.spec, config.stores);
  if (spec === undefined) throw new Error(`no store ${name}`);
  return spec;
}

/** What every init --exec config must hold, whatever its stores. */
function expectExecutionLayout(config: NcacheConfig): void {
  const [scheduler] = config.schedulers;
  expect(config.schedulers).toHaveLength(1);
  // Bazel's empty platform names no property; the ones an action may name are listed.
  expect(asSimple(scheduler?.spec).supported_platform_properties).toMatchObject({ cpu_count: 'minimum', OSFamily: 'exact', 'container-image': 'ignore' });

  const main = config.servers[0]!;
  expect(main.services.execution).toEqual([{ instance_name: '', cas_store: 'CAS', scheduler: scheduler!.name }]);
  expect(main.services.capabilities).toEqual([{ instance_name: '', remote_execution: { scheduler: scheduler!.name } }]);

  expect(config.workers).toHaveLength(1);
  const worker = config.workers[0]!;
  // The worker's endpoint is the address of a listener serving worker_api for that scheduler.
  const endpoint = new URL(worker.worker_api_endpoint.uri);
  const workerApi = config.servers.find((s) => s.services.worker_api !== undefined);
  expect(workerApi?.services.worker_api).toEqual({ scheduler: scheduler!.name });
  expect(parseSocketAddress(workerApi!.listener.http.socket_address)).toEqual({ host: endpoint.hostname, port: Number(endpoint.port) });
  expect(endpoint.hostname).toBe('127.0.0.1');

  // Inputs are hardlinked from the fast tier: a filesystem store, beside the work directory.
  const fastSlow = resolved(config, worker.cas_fast_slow_store);
  expect(fastSlow.kind).toBe('fast_slow');
  if (fastSlow.kind !== 'fast_slow') return;
  expect(fastSlow.fast.kind).toBe('filesystem');
  expect(worker.work_directory).toBe(join(dir, 'cache', 'work'));
  expect(worker.upload_action_result.ac_store).toBe('AC');
  expect(worker.platform_properties.cpu_count).toEqual({ values: [String(availableParallelism())] });
  expect(Object.keys(worker.platform_properties).every((p) => p in asSimple(scheduler?.spec).supported_platform_properties)).toBe(true);
}

/** What `ncache validate` warns about the file. */
async function validateWarnings(path: string): Promise<string[]> {
  const run = await ncache(['validate', path, '--json']);
  expect(run.code, run.stderr).toBe(0);
  const result = JSON.parse(run.stdout) as { ok: boolean; warnings: string[] };
  expect(result.ok).toBe(true);
  return result.warnings;
}

describe('ncache init --exec', () => {
  it('writes a config that runs actions: the CAS\'s own files are the worker\'s fast tier, and it validates', async () => {
    const run = await ncache(['init', '--exec', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as InitExecJson;
    const path = join(dir, 'config', 'ncache', 'config.json5');
    expect(result).toMatchObject({ path, replaced: false });
    expect(result.execution).toMatchObject({
      scheduler: 'MAIN_SCHEDULER',
      worker: 'local',
      workDirectory: join(dir, 'cache', 'work'),
      workerApiEndpoint: 'grpc://127.0.0.1:50061',
      bazelrcLines: ['build --remote_cache=grpc://127.0.0.1:50051', 'build --remote_executor=grpc://127.0.0.1:50051'],
    });
    expect(result.execution.platformProperties.cpu_count).toEqual([String(availableParallelism())]);

    const config = await loadConfigFile(path, env);
    expectExecutionLayout(config);
    // One copy of each blob: Bazel's CAS (verify) reaches the same filesystem store the worker links from.
    const cas = config.stores.find((s) => s.name === 'CAS')!.spec;
    expect(cas).toMatchObject({ kind: 'verify', verify_hash: true, backend: { kind: 'ref_store', name: 'WORKER_CAS' } });
    expect(resolved(config, 'WORKER_CAS')).toMatchObject({
      kind: 'fast_slow',
      fast: { kind: 'filesystem', content_path: join(dir, 'cache', 'cas') },
      slow: { kind: 'noop' },
      slow_direction: 'get',
    });
    expect(await validateWarnings(path)).toEqual([]);
  });

  it('prints what runs the actions, the .bazelrc lines and how to start it', async () => {
    const path = join(dir, 'exec.json5');
    const run = await ncache(['init', '--exec', '--path', path]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Wrote ${path}`);
    expect(run.stdout).toMatch(/Actions run on this machine: scheduler MAIN_SCHEDULER, worker "local" \(cpu_count=\d+ /);
    expect(run.stdout).toContain(
      'Add to .bazelrc:\n  build --remote_cache=grpc://127.0.0.1:50051\n  build --remote_executor=grpc://127.0.0.1:50051\n',
    );
    expect(run.stdout).toContain(`Start the daemon with: ncache start --config ${path}`);

    // Like plain init, it does not overwrite without --force.
    const again = await ncache(['init', '--exec', '--path', path]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${path} already exists; pass --force`);
  });
});

describe('ncache init --aws --exec', () => {
  it('adds the worker\'s whole-file tier in front of the S3-backed CAS, the scheduler, worker and services, and validates', async () => {
    const path = join(dir, 'aws', 'config.json5');
    const run = await ncache(['init', '--aws', '--exec', '--bucket', 'team-cache', '--region', 'eu-central-1', '--no-check', '--path', path, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as InitExecJson;
    expect(result.execution.bazelrcLines).toEqual(['build --remote_cache=grpc://127.0.0.1:50051', 'build --remote_executor=grpc://127.0.0.1:50051']);

    const config = await loadConfigFile(path, env);
    expectExecutionLayout(config);
    // The CAS keeps compressed chunks (nothing to link): the worker gets its own files, filled from the CAS.
    expect(config.stores.find((s) => s.name === 'CAS')!.spec).toMatchObject({ kind: 'verify', backend: { kind: 'dedup' } });
    expect(resolved(config, 'WORKER_CAS')).toMatchObject({
      kind: 'fast_slow',
      fast: { kind: 'filesystem', content_path: join(dir, 'cache', 'worker-cas') },
      slow: { kind: 'ref_store', name: 'CAS' },
    });
    expect(await validateWarnings(path)).toEqual([]);
  });

  it('keeps a filesystem tier for the worker with --memory-tier (links need files), and the listener --listen asks for', async () => {
    const path = join(dir, 'mem', 'config.json5');
    const run = await ncache([
      'init', '--aws', '--exec', '--bucket', 'team-cache', '--region', 'eu-central-1', '--no-check', '--path', path,
      '--memory-tier', '64mb', '--listen', '0.0.0.0:50051',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const config = await loadConfigFile(path, env);
    expectExecutionLayout(config);
    expect(resolved(config, 'WORKER_CAS')).toMatchObject({ kind: 'fast_slow', fast: { kind: 'filesystem' } });
    expect(config.servers[0]!.listener.http).toMatchObject({ socket_address: '0.0.0.0:50051', auth: {} });
    // The worker API stays on loopback whatever the main listener does.
    expect(config.servers[1]!.listener.http.socket_address).toBe('127.0.0.1:50061');
  });

  it('without --exec still writes no execution parts: NativeLink\'s scheduler, used by nothing', async () => {
    const path = join(dir, 'plain', 'config.json5');
    const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--no-check', '--path', path]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toContain('remote_executor');
    const config = await loadConfigFile(path, env);
    expect(config.workers).toEqual([]);
    expect(config.servers).toHaveLength(1);
    expect(config.servers[0]!.services.execution).toBeUndefined();
    expect(config.stores.map((s) => s.name)).toEqual(['CAS', 'AC']);
  });
});
