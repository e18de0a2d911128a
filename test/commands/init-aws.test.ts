// `ncache init --aws` as a user runs it: the built bin/ncache.js in a child
// process, writing real files in a temp dir and probing a real S3 endpoint
// (s3rver in a child process, optionally behind the fault-injecting proxy).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { storeShape, walkSpecs } from '../../src/config/store-tree.js';
import type { CloudObjectStoreSpec, FastSlowSpec, FilesystemSpec, MemorySpec, NcacheConfig, StoreSpec } from '../../src/config/types.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { createReapiClient } from '../helpers/grpc-client.js';
import { digestKey, digestOf } from '../../src/util/digest.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { S3RVER_CREDENTIALS, startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { closedPort } from '../helpers/ports.js';
import { runNcache } from '../helpers/cli-daemon.js';

interface ProbeStepJson {
  operation: string;
  status: 'ok' | 'failed' | 'skipped';
  message?: string;
  errorCode?: string;
  missingPermission?: string;
}

interface InitAwsJson {
  ok: boolean;
  path: string;
  replaced: boolean;
  iamPolicyPath: string;
  lifecyclePath: string;
  s3: { bucket: string; region: string; prefix: string; endpoint: string | null };
  fastTier: { kind: 'filesystem' } | { kind: 'memory'; maxBytes: number };
  listen: string;
  tokensFile: string | null;
  check: null | { ok: boolean; endpoint: string; key: string; leftBehind: boolean; steps: ProbeStepJson[] };
}

let dir: string;
let env: NodeJS.ProcessEnv;
let s3: S3rverHandle;

const ncache = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runNcache(args, { env: { ...env, ...extraEnv }, cwd: dir });

/** The keys of the objects s3rver holds under a prefix, read from its own files (one per object). */
async function objectsIn(bucket: string, prefix: string): Promise<string[]> {
  const bucketDir = join(s3.dir, bucket);
  if (!existsSync(bucketDir)) return [];
  const files = await readdir(bucketDir, { recursive: true });
  return files
    .map((f) => f.replaceAll(sep, '/'))
    .filter((f) => f.endsWith('._S3rver_object'))
    .map((f) => f.slice(0, -'._S3rver_object'.length))
    .filter((key) => key.startsWith(prefix));
}

/** The slow tiers of the config's CAS and AC stores. */
function s3Specs(stores: { spec: StoreSpec }[]): CloudObjectStoreSpec[] {
  const found: CloudObjectStoreSpec[] = [];
  const walk = (spec: unknown): void => {
    if (spec === null || typeof spec !== 'object') return;
    if ((spec as StoreSpec).kind === 'experimental_cloud_object_store') found.push(spec as CloudObjectStoreSpec);
    for (const value of Object.values(spec)) walk(value);
  };
  for (const store of stores) walk(store.spec);
  return found;
}

const SEED_CONFIG = fileURLToPath(new URL('../fixtures/configs/nativelink-s3-example.json5', import.meta.url));

/** Each top-level store's shape ("verify > dedup(...)"), in config order. */
function shapes(config: NcacheConfig): string[] {
  return config.stores.map((s) => storeShape(s.spec));
}

/** Every spec of a kind anywhere in the config's stores. */
function specsOf<T extends StoreSpec>(config: NcacheConfig, kind: T['kind']): T[] {
  const out: T[] = [];
  config.stores.forEach((s, i) => walkSpecs(s.spec, `stores[${i}]`, (spec) => spec.kind === kind && out.push(spec as T)));
  return out;
}

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['team-cache'] });
});

afterAll(async () => {
  await s3?.stop();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ncache-init-aws-'));
  env = { ...process.env };
  // Keep the user's own config, cache and AWS setup out of every run.
  for (const name of Object.keys(env)) {
    if (name.startsWith('AWS_') || name.startsWith('NCACHE_')) env[name] = undefined;
  }
  Object.assign(env, {
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    NCACHE_CACHE_DIR: join(dir, 'cache', 'ncache'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ncache init --aws --no-check', () => {
  it('writes a config with the bucket, region and prefix filled in, that validate accepts, and the IAM policy and lifecycle rules beside it', async () => {
    const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--prefix', 'prod', '--no-check', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as InitAwsJson;
    const configDir = join(dir, 'config', 'ncache');
    expect(result).toEqual({
      ok: true,
      path: join(configDir, 'config.json5'),
      replaced: false,
      iamPolicyPath: join(configDir, 'iam-policy.json'),
      lifecyclePath: join(configDir, 's3-lifecycle.json'),
      s3: { bucket: 'team-cache', region: 'eu-central-1', prefix: 'prod/', endpoint: null },
      fastTier: { kind: 'filesystem' },
      listen: '127.0.0.1:50051',
      tokensFile: null,
      check: null,
    });

    const validate = await ncache(['validate', '--json']);
    expect(validate.code).toBe(0);
    expect(JSON.parse(validate.stdout)).toMatchObject({
      ok: true,
      source: result.path,
      summary: expect.stringContaining(
        'CAS = verify > dedup(fast_slow(filesystem, s3), compression > fast_slow(filesystem, s3)), AC = completeness_checking > fast_slow(filesystem, s3)',
      ) as unknown,
      warnings: [],
    });

    const text = await readFile(result.path, 'utf8');
    expect(text).not.toContain('{{');
    expect(text).toContain('${NCACHE_CACHE_DIR}/dedup-cas');
    const config = await loadConfigFile(result.path, env);
    const specs = s3Specs(config.stores);
    expect(specs.map((s) => [s.bucket, s.region, s.key_prefix, s.endpoint, s.retry.max_retries])).toEqual([
      ['team-cache', 'eu-central-1', 'prod/index/', undefined, 6],
      ['team-cache', 'eu-central-1', 'prod/dedup-cas/', undefined, 6],
      ['team-cache', 'eu-central-1', 'prod/ac/', undefined, 6],
    ]);
    expect(JSON.stringify(config.stores)).toContain(join(dir, 'cache', 'ncache', 'dedup-cas'));

    const policy = JSON.parse(await readFile(result.iamPolicyPath, 'utf8')) as {
      Statement: { Action: string[]; Resource: string[] }[];
    };
    expect(policy.Statement[0]!.Action.sort()).toEqual([
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
    expect(policy.Statement[0]!.Resource).toEqual(['arn:aws:s3:::team-cache', 'arn:aws:s3:::team-cache/*']);
    const lifecycle = JSON.parse(await readFile(result.lifecyclePath, 'utf8')) as { Rules: { Filter: { Prefix: string } }[] };
    expect(lifecycle.Rules.map((r) => r.Filter.Prefix)).toEqual(['prod/', 'prod/']);
  });

  it('writes an --endpoint with path-style addressing, and prints where everything is and what to run next', async () => {
    const path = join(dir, 'elsewhere', 'minio.json5');
    const run = await ncache([
      'init', '--aws', '--bucket', 'build-cache', '--region', 'us-east-1', '--endpoint', 'https://minio.example.com:9000/',
      '--prefix', '', '--no-check', '--path', path,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Wrote ${path}`);
    expect(run.stdout).toContain(`IAM policy the credentials need on the bucket: ${join(dir, 'elsewhere', 'iam-policy.json')}`);
    expect(run.stdout).toContain(`Lifecycle rules you can apply to the bucket: ${join(dir, 'elsewhere', 's3-lifecycle.json')}`);
    expect(run.stdout).toContain(`Start the daemon with: ncache serve --config ${path}`);
    const specs = s3Specs((await loadConfigFile(path, env)).stores);
    expect(specs.map((s) => [s.key_prefix, s.endpoint, s.force_path_style])).toEqual([
      ['index/', 'https://minio.example.com:9000', true],
      ['dedup-cas/', 'https://minio.example.com:9000', true],
      ['ac/', 'https://minio.example.com:9000', true],
    ]);
  });

  it('refuses to overwrite the config or the files beside it without --force, and replaces them with it', async () => {
    const configDir = join(dir, 'config', 'ncache');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'iam-policy.json'), '{"mine": true}\n');
    const args = ['init', '--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--no-check'];
    const refused = await ncache(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${join(configDir, 'iam-policy.json')} already exists; pass --force`);
    expect(existsSync(join(configDir, 'config.json5'))).toBe(false);
    expect(await readFile(join(configDir, 'iam-policy.json'), 'utf8')).toBe('{"mine": true}\n');

    const forced = await ncache([...args, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('Replaced');
    expect(await readFile(join(configDir, 'iam-policy.json'), 'utf8')).toContain('arn:aws:s3:::team-cache');
  });
});

/** The seed's shapes as init --aws writes them: its AC behind completeness_checking against the CAS (docs/reliability.md). */
const withCheckedAc = (seedShapes: string[]) => seedShapes.map((s, i) => (i === 1 ? `completeness_checking > ${s}` : s));

describe('ncache init --aws writes the shape of NativeLink\'s S3 example (the seed config), its AC completeness-checked', () => {
  it('by default: the seed\'s store trees with filesystem fast tiers, each in its own directories, writing behind', async () => {
    const seed = await loadConfigFile(SEED_CONFIG, env);
    const path = join(dir, 'fs.json5');
    const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--no-check', '--path', path]);
    expect(run.code, run.stderr).toBe(0);
    const config = await loadConfigFile(path, env);
    expect(shapes(seed)).toEqual([
      'verify > dedup(fast_slow(memory, s3), compression > fast_slow(memory, s3))',
      'fast_slow(memory, s3)',
    ]);
    expect(shapes(config)).toEqual(withCheckedAc(shapes(seed)).map((s) => s.replaceAll('memory', 'filesystem')));
    // The AC looks its results' outputs up in the CAS it serves with.
    expect(config.stores[1]!.spec).toMatchObject({ kind: 'completeness_checking', cas_store: { kind: 'ref_store', name: 'CAS' } });
    expect(config.servers[0]!.services.ac).toEqual([expect.objectContaining({ ac_store: 'AC' })]);
    expect(config.servers[0]!.services.cas).toEqual([expect.objectContaining({ cas_store: 'CAS' })]);
    expect(config.schedulers.map((s) => s.name)).toEqual(seed.schedulers.map((s) => s.name));
    expect(config.stores[0]!.spec).toMatchObject({ kind: 'verify', verify_size: true });

    const tiers = specsOf<FilesystemSpec>(config, 'filesystem');
    expect(tiers.map((t) => t.content_path)).toEqual(['index', 'dedup-cas', 'ac'].map((n) => join(dir, 'cache', 'ncache', n)));
    expect(new Set(tiers.map((t) => t.temp_path)).size).toBe(3);
    expect(tiers.every((t) => t.eviction_policy!.max_bytes > 0)).toBe(true);
    // Filesystem tiers survive a restart, so uploads are written behind (docs/s3.md).
    expect(specsOf<FastSlowSpec>(config, 'fast_slow').map((f) => f.slow_write_mode)).toEqual(['async', 'async', 'async']);
    expect(s3Specs(config.stores).map((s) => s.key_prefix)).toEqual(['ncache/index/', 'ncache/dedup-cas/', 'ncache/ac/']);
  });

  it('with --memory-tier: the seed\'s store trees (its AC completeness-checked), each memory tier bounded by that size, writing through', async () => {
    const seed = await loadConfigFile(SEED_CONFIG, env);
    const path = join(dir, 'mem.json5');
    const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--no-check', '--path', path, '--memory-tier', '64MiB', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as InitAwsJson).fastTier).toEqual({ kind: 'memory', maxBytes: 64 * 1024 * 1024 });
    const config = await loadConfigFile(path, env);
    expect(shapes(config)).toEqual(withCheckedAc(shapes(seed)));
    expect(specsOf<MemorySpec>(config, 'memory').map((m) => m.eviction_policy?.max_bytes)).toEqual([64 * 1024 * 1024, 64 * 1024 * 1024, 64 * 1024 * 1024]);
    // A memory tier does not survive a restart: write-behind would lose acknowledged uploads.
    expect(specsOf<FastSlowSpec>(config, 'fast_slow').map((f) => f.slow_write_mode ?? 'sync')).toEqual(['sync', 'sync', 'sync']);
    const validate = await ncache(['validate', path, '--json']);
    expect(validate.code).toBe(0);
    expect(JSON.parse(validate.stdout)).toMatchObject({ ok: true, warnings: [] });
  });
});

describe('ncache init --aws argument checks (exit 2, nothing written)', () => {
  const cases: [string, string[], string[]][] = [
    ['no --bucket or --region', ['--aws'], ['--aws needs --bucket', '--aws needs --region']],
    ['a bucket name S3 rejects', ['--aws', '--bucket', 'Team_Cache', '--region', 'eu-central-1'], ['--bucket "Team_Cache": may contain only lowercase letters']],
    ['a short bucket name', ['--aws', '--bucket', 'ab', '--region', 'eu-central-1'], ['must be 3 to 63 characters long']],
    ['a region that is not one', ['--aws', '--bucket', 'team-cache', '--region', 'Frankfurt'], ['--region "Frankfurt": expected an AWS region']],
    ['an endpoint that is not a URL', ['--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--endpoint', 'minio:9000x'], ['--endpoint "minio:9000x"']],
    ['plain http to another machine', ['--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--endpoint', 'http://minio.lan:9000'], ['unencrypted http://', '--insecure-allow-http']],
    ['a prefix with an empty segment', ['--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--prefix', 'a//b'], ['--prefix "a//b": must not contain empty']],
    ['S3 options without --aws', ['--bucket', 'team-cache', '--region', 'eu-central-1'], ['--bucket, --region, --no-check apply only with --aws']],
    ['a --memory-tier that is not a size', ['--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--memory-tier', 'lots'], ['--memory-tier "lots": not a size']],
    ['a --memory-tier of zero', ['--aws', '--bucket', 'team-cache', '--region', 'eu-central-1', '--memory-tier', '0'], ['--memory-tier "0": must be more than 0 bytes']],
    ['--memory-tier without --aws', ['--memory-tier', '100mb'], ['--memory-tier, --no-check apply only with --aws']],
  ];
  for (const [name, args, messages] of cases) {
    it(name, async () => {
      const run = await ncache(['init', ...args, '--no-check']);
      expect(run.code, run.stderr).toBe(2);
      for (const message of messages) expect(run.stderr).toContain(message);
      expect(existsSync(join(dir, 'config'))).toBe(false);
    });
  }
});

describe('ncache init --aws bucket check against a real S3 endpoint (s3rver)', () => {
  it('puts, reads back, lists and deletes a probe object, leaving nothing behind', async () => {
    const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', s3.endpoint, '--prefix', 'probe-ok/', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as InitAwsJson;
    expect(result.ok).toBe(true);
    expect(result.check).toMatchObject({ ok: true, endpoint: s3.endpoint, leftBehind: false });
    expect(result.check!.key.startsWith('probe-ok/ncache-init-probe-')).toBe(true);
    expect(result.check!.steps.map((s) => [s.operation, s.status])).toEqual([
      ['PutObject', 'ok'],
      ['GetObject', 'ok'],
      ['ListObjectsV2', 'ok'],
      ['DeleteObject', 'ok'],
    ]);
    expect(await objectsIn('team-cache', 'probe-ok/')).toEqual([]);
    expect(s3Specs((await loadConfigFile(result.path, env)).stores).map((s) => s.endpoint)).toEqual([s3.endpoint, s3.endpoint, s3.endpoint]);
  });

  it('uses AWS_ENDPOINT_URL_S3 when no --endpoint is given, as the store does', async () => {
    const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1'], { AWS_ENDPOINT_URL_S3: s3.endpoint });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Checked s3://team-cache/ncache/ at ${s3.endpoint}:`);
    expect(run.stdout).toMatch(/ok +DeleteObject/);
    expect(run.stdout).toContain('Start the daemon with: ncache serve\n');
  });

  it('names a missing bucket, exits 1, and still writes the config', async () => {
    const run = await ncache(['init', '--aws', '--bucket', 'no-such-bucket', '--region', 'us-east-1', '--endpoint', s3.endpoint]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the config was written anyway');
    expect(run.stderr).toContain(`bucket "no-such-bucket" does not exist at ${s3.endpoint}`);
    expect(run.stdout).toMatch(/skipped +DeleteObject/);
    expect(existsSync(join(dir, 'config', 'ncache', 'config.json5'))).toBe(true);
  });

  it('names the endpoint it cannot reach', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', endpoint, '--json']);
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout) as InitAwsJson;
    expect(result.ok).toBe(false);
    expect(result.check!.steps[0]).toMatchObject({ operation: 'PutObject', status: 'failed', errorCode: 'ECONNREFUSED' });
    expect(result.check!.steps[0]!.message).toContain(`cannot reach S3 at ${endpoint}`);
    expect(result.check!.steps.slice(1).map((s) => s.status)).toEqual(['skipped', 'skipped', 'skipped']);
  });

  it('says when no credentials can be found, and when S3 rejects them', async () => {
    const none = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', s3.endpoint, '--json'], {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
    });
    expect(none.code).toBe(1);
    const noneResult = JSON.parse(none.stdout) as InitAwsJson;
    expect(noneResult.check!.steps[0]).toMatchObject({ operation: 'PutObject', status: 'failed', errorCode: 'NoCredentials' });
    expect(noneResult.check!.steps[0]!.message).toContain('no AWS credentials found');

    const wrong = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', s3.endpoint, '--force'], {
      AWS_ACCESS_KEY_ID: 'AKIAWRONGWRONGWRONG',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('S3 rejected the credentials (InvalidAccessKeyId)');
  });

  describe('behind a proxy that denies operations', () => {
    let proxy: FaultProxy;
    beforeEach(async () => {
      proxy = await FaultProxy.start(s3.endpoint);
    });
    afterEach(async () => {
      await proxy.close();
    });

    it('reports s3:DeleteObject missing and the probe object left behind', async () => {
      proxy.inject({ ops: ['DeleteObject'], fault: { type: 'status', status: 403, code: 'AccessDenied' } });
      const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', proxy.endpoint, '--prefix', 'no-delete/']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('access denied: the credentials lack s3:DeleteObject on arn:aws:s3:::team-cache/no-delete/*');
      expect(run.stderr).toContain('missing IAM permissions: s3:DeleteObject');
      const left = /the probe object s3:\/\/team-cache\/(\S+) could not be deleted/.exec(run.stderr);
      expect(left).not.toBeNull();
      expect(await objectsIn('team-cache', 'no-delete/')).toEqual([left![1]]);
    });

    it('names the region S3 says the bucket is in', async () => {
      proxy.inject({
        ops: ['PutObject'],
        fault: {
          type: 'status',
          status: 400,
          code: 'AuthorizationHeaderMalformed',
          message: "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-2'",
        },
      });
      const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', proxy.endpoint]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('bucket "team-cache" is in region eu-west-2, not us-east-1: rerun with --region eu-west-2');
      expect(run.stdout).toMatch(/skipped +GetObject +not tried: AuthorizationHeaderMalformed/);
    });

    it('reports every missing permission in one run when puts and lists are denied', async () => {
      proxy.inject({ ops: ['PutObject'], fault: { type: 'status', status: 403, code: 'AccessDenied' } });
      proxy.inject({ ops: ['ListObjectsV2'], fault: { type: 'status', status: 403, code: 'AccessDenied' } });
      const run = await ncache(['init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', proxy.endpoint, '--json']);
      expect(run.code).toBe(1);
      const result = JSON.parse(run.stdout) as InitAwsJson;
      expect(result.check!.steps.map((s) => [s.operation, s.status, s.missingPermission])).toEqual([
        ['PutObject', 'failed', 's3:PutObject'],
        ['GetObject', 'skipped', undefined],
        ['ListObjectsV2', 'failed', 's3:ListBucket'],
        ['DeleteObject', 'ok', undefined],
      ]);
      expect(result.check!.leftBehind).toBe(false);
    });
  });
});

describe('the config init --aws writes, served', () => {
  // The seed's shape runs end to end: dedup + lz4 over fast tiers in front of s3rver.
  it.each([
    // One bucket for the whole file: each case under its own prefix.
    ['filesystem fast tiers (default)', 'shared-fs', []],
    ['memory fast tiers (--memory-tier 64mb)', 'shared-mem', ['--memory-tier', '64mb']],
  ])('%s: uploads through daemon A reach the bucket as chunks and an index entry, and daemon B with empty local tiers serves them', async (_name, prefix, extra) => {
    const path = join(dir, 'aws.json5');
    const init = await ncache([
      'init', '--aws', '--bucket', 'team-cache', '--region', 'us-east-1', '--endpoint', s3.endpoint, '--prefix', prefix, '--path', path, ...extra,
    ]);
    expect(init.code, init.stderr).toBe(0);
    // Port 0, so tests never collide; everything else as init wrote it.
    await writeFile(path, (await readFile(path, 'utf8')).replaceAll('127.0.0.1:50051', '127.0.0.1:0'));

    const laptop = (name: string): NodeJS.ProcessEnv => ({
      ...env,
      NCACHE_CACHE_DIR: join(dir, name, 'cache'),
      NCACHE_STATE_DIR: join(dir, name, 'state'),
    });
    // Large enough for several chunks (64 KiB..512 KiB each), varied enough not to be one repeated chunk.
    const blob = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    const digest = digestOf(blob);
    const actionDigest = digestOf(Buffer.from(`action ${dir}`));

    const a = await DaemonProcess.start({ configPath: path, env: laptop('a') });
    try {
      const client = createReapiClient(a.address);
      try {
        expect(await client.uploadBlob(blob)).toEqual(digest);
        await client.updateActionResult({
          actionDigest,
          actionResult: { exitCode: 0, outputFiles: [{ path: 'out.bin', digest }] },
        });
      } finally {
        client.close();
      }
    } finally {
      // A graceful stop drains the write-behind backlog to S3.
      expect(await a.stop()).toMatchObject({ code: 0, forced: false });
    }
    expect(await objectsIn('team-cache', `${prefix}/index/`)).toEqual([`${prefix}/index/${digestKey(digest)}`]);
    expect((await objectsIn('team-cache', `${prefix}/dedup-cas/`)).length).toBeGreaterThan(1);
    expect(await objectsIn('team-cache', `${prefix}/ac/`)).toEqual([`${prefix}/ac/${digestKey(actionDigest)}`]);
    expect(await objectsIn('team-cache', `${prefix}/cas/`)).toEqual([]);

    const b = await DaemonProcess.start({ configPath: path, env: laptop('b') });
    try {
      const client = createReapiClient(b.address);
      try {
        expect((await client.downloadBlob(digest)).equals(blob)).toBe(true);
        const result = await client.getActionResult({ actionDigest });
        expect(result.outputFiles.map((f) => f.digest)).toMatchObject([digest]);
      } finally {
        client.close();
      }
    } finally {
      await b.stop();
    }
  });
});
