// `ncache init --aws --listen HOST:PORT` as a user runs it (the built CLI in
// a child process): the listener with auth, the 0600 tokens file beside the
// config, the .bazelrc lines printed (and kept out of --json), validate's
// warning, and the config served by a real daemon over s3rver that refuses a
// call without the token and accepts one with it.
import { status } from '@grpc/grpc-js';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { runNcache } from '../helpers/cli-daemon.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { S3RVER_CREDENTIALS, type S3rverHandle, startS3rver } from '../helpers/s3rver.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();
let dir = '';
let env: NodeJS.ProcessEnv = {};
let s3: S3rverHandle;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['team-cache'] });
});
afterAll(async () => {
  await s3?.stop();
});

beforeEach(async () => {
  dir = await tempDir('ncache-init-listen-', cleanups);
  env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('AWS_') || name.startsWith('NCACHE_')) env[name] = undefined;
  }
  Object.assign(env, {
    XDG_CONFIG_HOME: join(dir, 'config'),
    NCACHE_CACHE_DIR: join(dir, 'cache'),
    NCACHE_STATE_DIR: join(dir, 'state'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  });
});

const ncache = (args: string[]) => runNcache(args, { env, cwd: dir });
const initArgs = (path: string, listen: string) => [
  'init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', s3.endpoint, '--no-check', '--path', path, '--listen', listen,
];

/** The token lines of a tokens file (not comments). */
const tokensIn = (text: string) => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

describe('ncache init --aws --listen', () => {
  it('writes the listener with auth, a 0600 tokens file with one new token, and prints the .bazelrc lines that use it', async () => {
    const path = join(dir, 'team', 'config.json5');
    const run = await ncache(initArgs(path, '0.0.0.0:50051'));
    expect(run.code, run.stderr).toBe(0);
    const tokensFile = join(dir, 'team', 'auth-tokens.txt');
    expect((await stat(tokensFile)).mode & 0o777).toBe(0o600);
    const tokens = tokensIn(await readFile(tokensFile, 'utf8'));
    expect(tokens).toHaveLength(1);
    const token = tokens[0]!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect(run.stdout).toContain(`Bearer tokens for 0.0.0.0:50051: ${tokensFile} (0600;`);
    expect(run.stdout).toContain('in a user-private bazelrc');
    expect(run.stdout).toContain(`  build --remote_cache=grpc://${hostname()}:50051\n  build --remote_header=authorization=Bearer ${token}\n`);

    const config = await loadConfigFile(path, env);
    expect(config.servers[0]!.listener.http).toMatchObject({
      socket_address: '0.0.0.0:50051',
      auth: { tokens_file: tokensFile, allow_unauthenticated_reads: false },
    });
    expect(await readFile(path, 'utf8')).toContain('tokens_file: "auth-tokens.txt"');

    // validate: no "anyone can read and write", but the tokens are sent in the clear.
    const validate = await ncache(['validate', path]);
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout + validate.stderr).not.toContain('anyone who can connect');
    expect(validate.stdout + validate.stderr).toContain('cross the network unencrypted');

    // A second init neither silently replaces the tokens nor the config.
    const again = await ncache(initArgs(path, '0.0.0.0:50051'));
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(tokensFile);
    expect(tokensIn(await readFile(tokensFile, 'utf8'))).toEqual([token]);
  });

  it('--json names the tokens file and the listener, never the token', async () => {
    const path = join(dir, 'config.json5');
    const run = await ncache([...initArgs(path, '[::]:50051'), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { listen: string; tokensFile: string | null };
    expect(result.listen).toBe('[::]:50051');
    expect(result.tokensFile).toBe(join(dir, 'auth-tokens.txt'));
    const [token] = tokensIn(await readFile(result.tokensFile!, 'utf8'));
    expect(run.stdout + run.stderr).not.toContain(token!);

    const plain = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--no-check', '--path', join(dir, 'plain', 'config.json5'), '--json']);
    expect(JSON.parse(plain.stdout)).toMatchObject({ listen: '127.0.0.1:50051', tokensFile: null });
  });

  it('refuses a bad --listen, port 0, and --listen without --aws', async () => {
    const bad = await ncache(initArgs(join(dir, 'c.json5'), 'everywhere'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--listen "everywhere": expected HOST:PORT');
    const zero = await ncache(initArgs(join(dir, 'c.json5'), '0.0.0.0:0'));
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--listen "0.0.0.0:0": give a fixed port');
    const noAws = await ncache(['init', '--path', join(dir, 'c.json5'), '--listen', '0.0.0.0:50051']);
    expect(noAws.code).toBe(2);
    expect(noAws.stderr).toContain('--listen applies only with --aws');
  });

  it('served: a call without the token is refused naming the fix, the printed token reads and writes', async () => {
    const path = join(dir, 'config.json5');
    const run = await ncache(initArgs(path, '0.0.0.0:50051'));
    expect(run.code, run.stderr).toBe(0);
    // Port 0 on loopback, so tests never collide; the auth as init wrote it.
    await writeFile(path, (await readFile(path, 'utf8')).replace('socket_address: "0.0.0.0:50051"', 'socket_address: "127.0.0.1:0"'));
    const token = /--remote_header=authorization=Bearer (\S+)/.exec(run.stdout)![1]!;

    const daemon = await DaemonProcess.start({ configPath: path, env });
    cleanups.push(() => daemon.stop());
    const anonymous = new ReapiClient(daemon.address);
    const member = new ReapiClient(daemon.address, {}, undefined, { authorization: `Bearer ${token}` });
    cleanups.push(() => {
      anonymous.close();
      member.close();
    });
    await expect(anonymous.getCapabilities()).rejects.toEqual(
      grpcError(status.UNAUTHENTICATED, /requires a bearer token: add --remote_header=authorization=Bearer <a token from .*auth-tokens\.txt> to your \.bazelrc/),
    );
    const digest = await member.uploadBlob(Buffer.from('shared build output'));
    expect((await member.downloadBlob(digest)).toString()).toBe('shared build output');
  });
});
