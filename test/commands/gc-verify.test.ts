// `ncache gc` and `ncache verify` through the BUILT CLI against a real daemon
// (serve in a child process) whose CAS and AC are a filesystem fast tier in
// front of S3 (s3rver), with blobs uploaded over real gRPC.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcReport } from '../../src/maintenance/gc.js';
import type { VerifyReport } from '../../src/maintenance/verify.js';
import { type Digest, digestKey, digestOf, formatDigest } from '../../src/util/digest.js';
import { type CliDaemon, cliTestEnv, runNcache, shortTempDir, startCliDaemon } from '../helpers/cli-daemon.js';
import { ReapiClient, blobName, openPartialUpload, uploadName } from '../helpers/grpc-client.js';
import { repoRoot } from '../helpers/daemon-process.js';
import { bucketClient, listObjects } from '../helpers/s3-daemon.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { loopbackServers } from '../helpers/config-servers.js';
import { deterministicBytes } from '../helpers/data.js';

const BUCKET = 'ncache-gc-verify';
const execFileAsync = promisify(execFile);

function configText(endpoint: string): string {
  const tier = (name: string) => ({
    fast_slow: {
      fast: {
        filesystem: {
          content_path: `\${NCACHE_TEST_DIR}/data/${name}/content`,
          temp_path: `\${NCACHE_TEST_DIR}/data/${name}/tmp`,
        },
      },
      slow: {
        experimental_cloud_object_store: {
          provider: 'aws',
          region: 'us-east-1',
          bucket: BUCKET,
          key_prefix: `${name}/`,
          endpoint,
          insecure_allow_http: true,
          retry: { max_retries: 2, delay: 0.05, jitter: 0.5 },
        },
      },
    },
  });
  return JSON.stringify({
    stores: [
      { name: 'CAS', verify: { verify_size: true, verify_hash: true, backend: tier('cas') } },
      { name: 'AC', ...tier('ac') },
    ],
    servers: loopbackServers(),
  });
}

const FAST_CAS = 'CAS.verify.backend.fast_slow.fast';
const SLOW_CAS = 'CAS.verify.backend.fast_slow.slow';

describe('ncache gc and verify against a daemon with an S3 slow tier', () => {
  let s3: S3rverHandle;
  let bucket: S3Client;
  let d: CliDaemon;
  let client: ReapiClient;
  const blobs = new Map<string, Buffer>();

  const casFile = (key: Digest) => join(d.dataDir, 'cas', 'content', digestKey(key));
  const casFiles = () => readdirSync(join(d.dataDir, 'cas', 'content')).sort();
  const objectCount = async () => (await listObjects(bucket, BUCKET, '')).length;

  async function upload(data: Buffer): Promise<Digest> {
    const key = await client.uploadBlob(data);
    blobs.set(digestKey(key), data);
    return key;
  }

  async function json<T>(args: string[], expectedCode: number): Promise<T> {
    const r = await d.run([...args, '--json'], { env: { CI: '1' } });
    if (r.code !== expectedCode) throw new Error(`ncache ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    bucket = bucketClient(s3.endpoint);
    d = await startCliDaemon({ configText: configText(s3.endpoint), env: s3rverEnv() });
    client = new ReapiClient(d.address);
    // 100 KiB each, multiples of the 4 KiB block so stored bytes equal sizes.
    for (let i = 0; i < 6; i++) await upload(deterministicBytes(100 * 1024, i + 1));
    await client.updateActionResult({
      actionDigest: digestOf(Buffer.from('an action for gc')),
      actionResult: { exitCode: 0, stdoutRaw: Buffer.from('built') },
    });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
    bucket?.destroy();
    await s3?.stop();
  });

  it('verify finds a blob whose file was changed on disk (exit 1), and --repair restores it from S3 (exit 0)', async () => {
    const key = [...blobs.keys()][0]!;
    const digest = { hash: key.split('-')[0]!, sizeBytes: Number(key.split('-')[1]) };
    const good = blobs.get(key)!;
    const bad = Buffer.from(good);
    bad[5000] = bad[5000]! ^ 0x5a;
    writeFileSync(casFile(digest), bad);

    const found = await json<VerifyReport>(['verify'], 1);
    expect(found.ok).toBe(false);
    expect(found.unrepaired).toBe(1);
    expect(found.problems).toEqual([
      expect.objectContaining({ tier: FAST_CAS, digest: formatDigest(digest), problem: 'corrupt', role: 'cas' }),
    ]);
    // Both tiers of both stores were read: 6 CAS blobs in each CAS tier, 1 action result in each AC tier.
    expect(found.checked.count).toBe(14);
    expect(found.tiers.find((t) => t.id === SLOW_CAS)).toMatchObject({ location: 'remote', checked: 6, corrupt: 0 });
    expect(readFileSync(casFile(digest)).equals(bad)).toBe(true);

    const repaired = await json<VerifyReport>(['verify', '--repair'], 0);
    expect(repaired.problems).toEqual([
      expect.objectContaining({ digest: formatDigest(digest), repair: 'restored', repairedFrom: SLOW_CAS }),
    ]);
    expect(readFileSync(casFile(digest)).equals(good)).toBe(true);
    expect((await json<VerifyReport>(['verify', '--tier', 'fast'], 0)).found).toBe(0);
  });

  it('verify --tier slow reads only the S3 objects; plain output when piped', async () => {
    const report = await json<VerifyReport>(['verify', '--tier', 'slow'], 0);
    expect(report.tiers.map((t) => t.location)).toEqual(['remote', 'remote']);
    expect(report.checked.count).toBe(await objectCount());
    const text = await d.run(['verify', '--tier', 'slow'], { env: { CI: '1' } });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/values checked .* 0 problem\(s\), all good/);
    expect(text.stdout).not.toMatch(/\u001b\[/);
    expect(text.stderr).toMatch(/^verify: verifying CAS\.verify\.backend\.fast_slow\.slow: 0\/6/m);
  });

  it('gc --dry-run reports what it would free and changes nothing', async () => {
    const files = casFiles();
    const objects = await objectCount();
    const report = await json<GcReport>(['gc', '--target-size', '0', '--dry-run'], 0);
    expect(report.dryRun).toBe(true);
    expect(report.freed.count).toBe(7); // 6 blobs + 1 action result, from the fast tiers
    expect(report.localBytesAfter).toBe(0);
    expect(casFiles()).toEqual(files);
    expect(await objectCount()).toBe(objects);
  });

  it('gc --target-size frees down to the target while a concurrent upload completes untouched; S3 keeps every object', async () => {
    const objects = await objectCount();
    expect(objects).toBe(7);
    // An upload that starts before gc and finishes after it.
    const data = deterministicBytes(3 * 1024 * 1024, 99);
    const digest = digestOf(data);
    const name = uploadName('', digest);
    const h = await openPartialUpload(client, name, data);

    const target = 250 * 1024;
    const report = await json<GcReport>(['gc', '--target-size', `${target}`], 0);
    expect(report.dryRun).toBe(false);
    expect(report.targetReached).toBe(true);
    expect(report.localBytesAfter).toBeLessThanOrEqual(target);
    expect(report.localBytesBefore).toBeGreaterThan(600 * 1024);
    expect(report.freed.count).toBeGreaterThanOrEqual(4);
    expect(report.remoteTiers.sort()).toEqual(['AC.fast_slow.slow', SLOW_CAS]);
    expect(casFiles().length).toBeLessThanOrEqual(2);
    expect(await objectCount()).toBe(objects);

    await h.send({ writeOffset: 1024 * 1024, data: data.subarray(1024 * 1024), finishWrite: true });
    h.end();
    expect((await h.response).committedSize).toBe(data.length);
    expect((await client.read(blobName('', digest))).equals(data)).toBe(true);
    expect(casFiles()).toContain(digestKey(digest));
    // Evicted blobs still read, from S3.
    for (const [key, bytes] of blobs) {
      const [hash, size] = key.split('-');
      expect((await client.read(blobName('', { hash: hash!, sizeBytes: Number(size) }))).equals(bytes)).toBe(true);
    }
    expect(await objectCount()).toBe(objects + 1);
  });

  it('on a terminal (a pty from script(1)), verify draws a progress bar and colours only without NO_COLOR', async () => {
    const inPty = async (extra: NodeJS.ProcessEnv) => {
      const env: NodeJS.ProcessEnv = { ...process.env, ...d.env, ...extra };
      delete env.CI;
      const cmd = `${process.execPath} ${join(repoRoot(), 'bin', 'ncache.js')} verify --tier fast`;
      const { stdout } = await execFileAsync('script', ['-qfec', cmd, '/dev/null'], { env });
      return stdout;
    };
    const colour = await inPty({});
    expect(colour).toMatch(/verifying CAS\.verify\.backend\.fast_slow\.fast \[#+\] 100% \| (\d+)\/\1 \|/);
    expect(colour).toContain('\u001b[32mall good');
    const plain = await inPty({ NO_COLOR: '1' });
    expect(plain).toMatch(/\[#+\] 100%/);
    expect(plain).toContain('all good');
    expect(plain).not.toMatch(/\u001b\[3\dm/);
  });

  it('bad flag values exit 2 naming the flag', async () => {
    const size = await d.run(['gc', '--target-size', '12 parsecs']);
    expect(size.code).toBe(2);
    expect(size.stderr).toContain('--target-size');
    const age = await d.run(['gc', '--older-than', 'forever']);
    expect(age.code).toBe(2);
    expect(age.stderr).toContain('--older-than');
    const tier = await d.run(['verify', '--tier', 'medium']);
    expect(tier.code).toBe(2);
    expect(tier.stderr).toContain('--tier');
  });

  it('--help shows an example', async () => {
    for (const command of ['gc', 'verify']) {
      const r = await d.run([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Example:\n  ncache ${command}`);
    }
  });
});

describe('ncache gc / verify without a daemon', () => {
  it('exits 1 saying how to start one', async () => {
    const dir = await shortTempDir();
    try {
      for (const command of ['gc', 'verify']) {
        const r = await runNcache([command], { env: cliTestEnv(dir) });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/no ncache daemon is running.*ncache start/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
