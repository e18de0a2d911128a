// `ncache init --remote` as a user runs it (the built CLI in a child process):
// the config it writes loads and validates without warnings, holds the layout
// (filesystem tiers in front of the cluster's CAS and AC through grpc stores,
// the grpc scheduler, the execution service and remote_execution
// capabilities, all under the cluster's instance name) with the URL, instance
// and token file it was given, and
// prints the .bazelrc lines; bad flags are usage errors naming the flag, and
// nothing is written.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import type { NcacheConfig } from '../../src/config/types.js';
import { runNcache } from '../helpers/cli-daemon.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();
let dir = '';
let env: NodeJS.ProcessEnv = {};

beforeEach(async () => {
  dir = await tempDir('ncache-init-remote-', cleanups);
  env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('AWS_') || name.startsWith('NCACHE_')) env[name] = undefined;
  }
  Object.assign(env, { XDG_CONFIG_HOME: join(dir, 'config'), NCACHE_CACHE_DIR: join(dir, 'cache'), NCACHE_STATE_DIR: join(dir, 'state') });
});

const ncache = (args: string[]) => runNcache(args, { env, cwd: dir });

interface RemoteInitJson {
  path: string;
  replaced: boolean;
  upstream: { address: string; instanceName: string; tls: boolean; tokenFile: string | null };
  bazelrcLines: string[];
}

const BAZELRC = ['build --remote_cache=grpc://127.0.0.1:50051', 'build --remote_executor=grpc://127.0.0.1:50051'];

/** The layout every init --remote config has, with the upstream it was given. */
function expectRemoteLayout(config: NcacheConfig, upstream: { address: string; instance: string; tokenFile?: string }): void {
  const grpc = (storeType: 'cas' | 'ac') => ({
    kind: 'grpc',
    store_type: storeType,
    instance_name: upstream.instance,
    endpoints: [{ address: upstream.address }],
    ...(upstream.tokenFile === undefined ? {} : { token_file: upstream.tokenFile }),
  });
  const store = (name: string) => config.stores.find((s) => s.name === name)?.spec;
  // Bazel's uploads are verified before either tier sees them; reads try this machine first.
  expect(store('CAS')).toMatchObject({
    kind: 'verify',
    verify_hash: true,
    backend: { kind: 'fast_slow', fast: { kind: 'filesystem', content_path: join(dir, 'cache', 'cas') }, slow: grpc('cas'), slow_write_mode: 'sync' },
  });
  expect(store('AC')).toMatchObject({
    kind: 'completeness_checking',
    cas_store: { kind: 'ref_store', name: 'CAS' },
    backend: { kind: 'fast_slow', fast: { kind: 'filesystem', content_path: join(dir, 'cache', 'ac') }, slow: grpc('ac') },
  });
  // Execution goes to the cluster; nothing runs here.
  expect(config.workers).toEqual([]);
  expect(config.schedulers).toHaveLength(1);
  const scheduler = config.schedulers[0]!;
  expect(scheduler.spec).toMatchObject({
    kind: 'grpc',
    connection: { endpoints: [{ address: upstream.address }], ...(upstream.tokenFile === undefined ? {} : { token_file: upstream.tokenFile }) },
  });
  // Bazel's instance is the cluster's: the grpc scheduler forwards the name Bazel sends.
  const main = config.servers[0]!;
  const instance = upstream.instance;
  expect(main.listener.http.socket_address).toBe('127.0.0.1:50051');
  expect(main.services.cas).toEqual([{ instance_name: instance, cas_store: 'CAS' }]);
  expect(main.services.ac).toEqual([{ instance_name: instance, ac_store: 'AC', read_only: false }]);
  expect(main.services.execution).toEqual([{ instance_name: instance, cas_store: 'CAS', scheduler: scheduler.name }]);
  expect(main.services.capabilities).toEqual([{ instance_name: instance, remote_execution: { scheduler: scheduler.name } }]);
  expect(main.services.bytestream).toMatchObject({ cas_stores: { [instance]: 'CAS' } });
}

async function validate(path: string): Promise<{ ok: boolean; warnings: string[] }> {
  const run = await ncache(['validate', path, '--json']);
  expect(run.code, run.stderr + run.stdout).toBe(0);
  return JSON.parse(run.stdout) as { ok: boolean; warnings: string[] };
}

describe('ncache init --remote', () => {
  it('writes local tiers in front of the cluster and the grpc scheduler; the config loads, validates and holds what was given', async () => {
    const run = await ncache(['init', '--remote', 'grpc://10.1.2.3:8980', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as RemoteInitJson;
    const path = join(dir, 'config', 'ncache', 'config.json5');
    expect(result).toEqual({
      path,
      replaced: false,
      upstream: { address: 'grpc://10.1.2.3:8980', instanceName: '', tls: false, tokenFile: null },
      bazelrcLines: BAZELRC,
    });
    expectRemoteLayout(await loadConfigFile(path, env), { address: 'grpc://10.1.2.3:8980', instance: '' });
    expect(await validate(path)).toMatchObject({ ok: true, warnings: [] });
  });

  it('takes the instance name and a token file (relative to where it runs), and prints what runs where and the .bazelrc lines', async () => {
    await writeFile(join(dir, 'cluster.token'), 'secret-token\n', { mode: 0o600 });
    const path = join(dir, 'team.json5');
    const run = await ncache(['init', '--remote', 'grpcs://cluster.example.com:443', '--instance', 'main/linux', '--token-file', 'cluster.token', '--path', path]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Wrote ${path}`);
    expect(run.stdout).toContain(`Upstream cluster grpcs://cluster.example.com:443, instance "main/linux", bearer token from ${join(dir, 'cluster.token')}`);
    expect(run.stdout).toContain(`Add to .bazelrc:\n  ${[...BAZELRC, 'build --remote_instance_name=main/linux'].join('\n  ')}\n`);
    expect(run.stdout).toContain(`Start the daemon with: ncache start --config ${path}`);

    const config = await loadConfigFile(path, env);
    expectRemoteLayout(config, { address: 'grpcs://cluster.example.com:443', instance: 'main/linux', tokenFile: join(dir, 'cluster.token') });
    // The token itself never lands in the config or the output.
    expect(await readFile(path, 'utf8')).not.toContain('secret-token');
    expect(run.stdout).not.toContain('secret-token');
    expect(await validate(path)).toMatchObject({ ok: true, warnings: [] });

    // Like every init, it does not overwrite without --force.
    const again = await ncache(['init', '--remote', 'grpc://10.1.2.3:8980', '--path', path]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${path} already exists; pass --force`);
    const forced = await ncache(['init', '--remote', 'grpc://10.1.2.3:8980', '--path', path, '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ replaced: true, upstream: { address: 'grpc://10.1.2.3:8980' } });
  });

  it.each([
    ['http://10.1.2.3:8980', '--remote "http://10.1.2.3:8980": the scheme http:// is not grpc:// or grpcs://'],
    ['10.1.2.3:8980', '--remote "10.1.2.3:8980": not a URL'],
    ['grpc://10.1.2.3', '--remote "grpc://10.1.2.3": no port'],
    ['grpc://10.1.2.3:8980/main', '--remote "grpc://10.1.2.3:8980/main": a path, query or fragment after the port (give the instance name with --instance)'],
    ['grpc://user:pw@10.1.2.3:8980', '--remote "grpc://user:pw@10.1.2.3:8980": a user or password in the URL'],
  ])('refuses --remote %s with a usage error naming the flag, and writes nothing', async (url, message) => {
    const path = join(dir, 'bad.json5');
    const run = await ncache(['init', '--remote', url, '--path', path]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${message}`);
    expect(existsSync(path)).toBe(false);
  });

  it('names a token file that does not exist, every bad flag at once, and flags that need --remote or clash with it', async () => {
    const path = join(dir, 'bad.json5');
    const missing = await ncache(['init', '--remote', 'grpc://h:1', '--token-file', 'nope.token', '--instance', 'a b', '--path', path]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: --token-file nope.token: ${join(dir, 'nope.token')} does not exist`);
    expect(missing.stderr).toContain('error: --instance "a b": an instance name is path segments');
    expect(existsSync(path)).toBe(false);

    const alone = await ncache(['init', '--instance', 'main', '--path', path]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--instance applies only with --remote');
    const clash = await ncache(['init', '--remote', 'grpc://h:1', '--exec', '--path', path]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('--exec cannot be combined with it');
    expect(existsSync(path)).toBe(false);
  });
});
