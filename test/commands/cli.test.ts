// The CLI as a user runs it: the built bin/ncache.js in a child process, with
// its exit codes, stdout/stderr and --json output.
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonProcess, repoRoot } from '../helpers/daemon-process.js';
import { runNcache } from '../helpers/cli-daemon.js';

const root = repoRoot();
let dir: string;
let env: NodeJS.ProcessEnv;

const ncache = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runNcache(args, { env: { ...env, ...extraEnv }, cwd: dir });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-cli-'));
  // Keep the user's real config and cache out of every run.
  env = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    NCACHE_CACHE_DIR: join(dir, 'cache', 'ncache'),
  };
  env.NCACHE_LOG_LEVEL = undefined; // unset: the child gets no value
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ncache (global)', () => {
  it('prints its version from package.json', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    const run = await ncache(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
  });

  it('exits 2 on an unknown command or option', async () => {
    const unknownCommand = await ncache(['frobnicate']);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("unknown command 'frobnicate'");
    const unknownOption = await ncache(['validate', '--bogus']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain('--bogus');
  });

  it('shows an example in every command help', async () => {
    for (const command of ['init', 'validate', 'serve']) {
      const run = await ncache([command, '--help']);
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toContain('Example:');
    }
  });
});

describe('ncache init', () => {
  it('writes the default config where ncache looks for it, and it validates', async () => {
    const run = await ncache(['init', '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { path: string; replaced: boolean };
    expect(result).toEqual({ path: join(dir, 'config', 'ncache', 'config.json5'), replaced: false });
    const template = await readFile(join(root, 'templates', 'local.json5'), 'utf8');
    expect(await readFile(result.path, 'utf8')).toBe(template);

    // With no argument, validate now picks that file up.
    const validate = await ncache(['validate', '--json']);
    expect(validate.code).toBe(0);
    expect(JSON.parse(validate.stdout)).toMatchObject({ ok: true, source: result.path });
  });

  it('refuses to overwrite without --force and replaces with it', async () => {
    const path = join(dir, 'mine.json5');
    await writeFile(path, '// my edits\n{}\n');
    const refused = await ncache(['init', '--path', path]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${path} already exists`);
    expect(await readFile(path, 'utf8')).toBe('// my edits\n{}\n');

    const forced = await ncache(['init', '--path', path, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`Replaced ${path}`);
    expect(await readFile(path, 'utf8')).toContain('stores:');
  });
});

describe('ncache validate', () => {
  it('summarizes the built-in default when there is no user config', async () => {
    const run = await ncache(['validate']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ok: <built-in default>: stores: CAS = verify > filesystem/);
    expect(run.stdout).toContain('127.0.0.1:50051');
  });

  it('lists every problem with its field path and exits 1', async () => {
    const path = join(dir, 'bad.json5');
    await writeFile(
      path,
      `{
        stores: [{ name: "A", memory: { eviction_policy: { max_bytes: "abc" } } }],
        servers: [{ listener: { http: { socket_address: "127.0.0.1:0" } },
                    services: { cas: [{ instance_name: "", cas_store: "B" }] } }],
      }`,
    );
    const run = await ncache(['validate', path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`invalid config ${path} (2 problems)`);
    expect(run.stderr).toContain('stores[0].memory.eviction_policy.max_bytes: expected a size');
    expect(run.stderr).toContain('servers[0].services.cas[0].cas_store: store "B" does not exist');

    const json = await ncache(['validate', path, '--json']);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; issues: { path: string }[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.issues.map((i) => i.path)).toEqual([
      'stores[0].memory.eviction_policy.max_bytes',
      'servers[0].services.cas[0].cas_store',
    ]);
  });

  it('names the file and position of a JSON5 syntax error', async () => {
    const path = join(dir, 'broken.json5');
    await writeFile(path, '{\n  stores: [\n    { name: "A" memory: {} },\n  ],\n}\n');
    const run = await ncache(['validate', path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(path);
    expect(run.stderr).toContain(`${path}:3:17: JSON5 syntax error`);
  });

  it('says which file is missing', async () => {
    const path = join(dir, 'nope.json5');
    const run = await ncache(['validate', path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(path);
  });
});

describe('ncache serve', () => {
  it('serves the user config, prints the .bazelrc lines, and stops cleanly on SIGTERM', async () => {
    // The user's config (as init writes it), moved to port 0 so tests never collide.
    const configPath = join(dir, 'config', 'ncache', 'config.json5');
    await mkdir(join(dir, 'config', 'ncache'), { recursive: true });
    const template = await readFile(join(root, 'templates', 'local.json5'), 'utf8');
    expect(template).toContain('127.0.0.1:50051');
    await writeFile(configPath, template.replaceAll('127.0.0.1:50051', '127.0.0.1:0'));

    // No --config: the daemon must find the user's file itself.
    const daemon = await DaemonProcess.start({ configPath: undefined, env });
    try {
      expect(daemon.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(daemon.stdout()).toContain(`config: ${configPath}`);
      expect(daemon.stdout()).toContain(`build --remote_cache=grpc://${daemon.address}`);
    } finally {
      const exit = await daemon.stop();
      expect(exit).toMatchObject({ code: 0, forced: false });
      expect(daemon.stdout()).toContain('ncache stopped');
    }
  });

  it('serves a config with a dedup store (no store kind is left unimplemented)', async () => {
    const path = join(dir, 'dedup.json5');
    await writeFile(
      path,
      JSON.stringify({
        stores: [
          {
            name: 'CAS',
            dedup: { index_store: { memory: {} }, content_store: { memory: {} } },
          },
        ],
        servers: [
          {
            listener: { http: { socket_address: '127.0.0.1:0' } },
            services: { cas: [{ instance_name: '', cas_store: 'CAS' }] },
          },
        ],
      }),
    );
    const daemon = await DaemonProcess.start({ configPath: path, env });
    expect(await daemon.stop()).toMatchObject({ code: 0, forced: false });
  });

  it('reports a port already in use', async () => {
    const first = join(dir, 'first.json5');
    const template = await readFile(join(root, 'templates', 'local.json5'), 'utf8');
    await writeFile(first, template.replaceAll('127.0.0.1:50051', '127.0.0.1:0'));
    const daemon = await DaemonProcess.start({ configPath: first, env });
    try {
      const second = join(dir, 'second.json5');
      await writeFile(
        second,
        template.replaceAll('127.0.0.1:50051', daemon.address).replaceAll('${NCACHE_CACHE_DIR}', join(dir, 'other')),
      );
      const run = await ncache(['serve', '--config', second]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(daemon.address);
    } finally {
      await daemon.stop();
    }
  });
});
