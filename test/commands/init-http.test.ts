// `ncache init --http PORT` as a user runs it: the default config plus an
// http_cache server, which validates and which `serve` prints with its
// .bazelrc line.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runNcache } from '../helpers/cli-daemon.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { closedPort } from '../helpers/ports.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const ncache = (args: string[]) => runNcache(args, { env, cwd: dir });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-init-http-'));
  env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache'), NCACHE_CACHE_DIR: join(dir, 'cache', 'ncache'), NCACHE_STATE_DIR: join(dir, 'state') };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ncache init --http', () => {
  it('adds an http_cache server that validates and that serve prints with its .bazelrc line', async () => {
    // A port free a moment ago: init only writes it, serve binds it.
    const port = await closedPort();
    const path = join(dir, 'config.json5');
    const run = await ncache(['init', '--http', String(port), '--path', path]);
    expect(run.code, run.stderr).toBe(0);
    const validate = await ncache(['validate', path]);
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toContain(`127.0.0.1:${port} (cas, ac`);

    // The gRPC listener of the template is on a fixed port: run it on a free one instead.
    await writeFile(path, (await readFile(path, 'utf8')).replace('127.0.0.1:50051', '127.0.0.1:0'));
    const daemon = await DaemonProcess.start({ configPath: path, env });
    try {
      expect(daemon.urls).toEqual([expect.stringMatching(/^grpc:\/\/127\.0\.0\.1:\d+$/), `http://127.0.0.1:${port}`]);
      expect(daemon.stdout()).toContain(`  # build --remote_cache=http://127.0.0.1:${port}`);
    } finally {
      await daemon.stop();
    }
  });

  it('refuses a port that is not one, and --http with --aws', async () => {
    const bad = await ncache(['init', '--http', '80808', '--path', join(dir, 'x.json5')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--http: expected a port number (1-65535), got "80808"');
    const aws = await ncache(['init', '--aws', '--bucket', 'b', '--region', 'r', '--http', '8080', '--path', join(dir, 'y.json5')]);
    expect(aws.code).toBe(2);
    expect(aws.stderr).toContain('--http applies only to the local config, without --aws or --exec');
  });
});
