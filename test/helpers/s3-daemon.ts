// `ncache serve` (child process) over an S3 tier, for end-to-end tests and the
// bench: a NativeLink-format config whose CAS is verify over fast_slow
// {filesystem, experimental_cloud_object_store} and whose AC is
// completeness_checking over fast_slow {filesystem, S3}, both writing the
// slow tier behind (slow_write_mode "async"). Each fixture has its own fast
// tier and its own state dir (NCACHE_STATE_DIR, where the catalog and its
// upload journal live), so several daemons can share one bucket the way two
// laptops would. Also: a direct S3 client for looking inside the bucket.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DaemonFixture, type DaemonProcess } from './daemon-process.js';
import { S3RVER_CREDENTIALS } from './s3rver.js';
import { loopbackServers } from './config-servers.js';

export interface S3ConfigOptions {
  /** Holds the fast tiers (cas/, ac/ with their temp dirs). */
  dataDir: string;
  /** The S3 endpoint the daemon talks to (usually the fault proxy). */
  endpoint: string;
  bucket: string;
  /** Objects go to `${keyPrefix}cas/` and `${keyPrefix}ac/`. */
  keyPrefix: string;
  /** Store-level S3 retries; small delays keep fault tests quick. */
  retry?: { max_retries: number; delay: number; jitter: number };
}

/** The config text (JSON, which is valid JSON5). */
export function s3ConfigText(opts: S3ConfigOptions): string {
  const retry = opts.retry ?? { max_retries: 4, delay: 0.02, jitter: 0.5 };
  const filesystem = (name: string) => ({
    filesystem: {
      content_path: join(opts.dataDir, name, 'content'),
      temp_path: join(opts.dataDir, name, 'tmp'),
      eviction_policy: { max_bytes: '20gb' },
    },
  });
  const s3 = (prefix: string) => ({
    experimental_cloud_object_store: {
      provider: 'aws',
      region: 'us-east-1',
      bucket: opts.bucket,
      key_prefix: `${opts.keyPrefix}${prefix}`,
      endpoint: opts.endpoint,
      force_path_style: true,
      retry,
    },
  });
  const tiers = (name: string) => ({
    fast_slow: { fast: filesystem(name), slow: s3(`${name}/`), slow_write_mode: 'async' },
  });
  const config = {
    stores: [
      { name: 'CAS', verify: { verify_size: true, verify_hash: true, backend: tiers('cas') } },
      { name: 'AC', completeness_checking: { backend: tiers('ac'), cas_store: { ref_store: { name: 'CAS' } } } },
    ],
    servers: loopbackServers(),
  };
  return `// ncache S3 test config (written by test/helpers/s3-daemon.ts)\n${JSON.stringify(config, null, 2)}\n`;
}

/** Dummy credentials s3rver accepts, through the standard AWS variables (the daemon's credential chain reads them). */
export function s3DaemonEnv(stateDir: string): NodeJS.ProcessEnv {
  return {
    NCACHE_STATE_DIR: stateDir,
    // info: write-behind's resume and drain lines are what tests read.
    NCACHE_LOG_LEVEL: 'info',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    // Keep the user's profile files and the metadata service out of it.
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PROFILE: '',
  };
}

/**
 * One "laptop": a temp dir with the config, the fast tier and the state dir.
 * start() runs `ncache serve` on it (again after a stop or a kill: same fast
 * tier, same catalog). cleanup() stops what runs and removes the directory.
 */
export function s3DaemonFixture(opts: Omit<S3ConfigOptions, 'dataDir'>): Promise<DaemonFixture> {
  return DaemonFixture.withLayout({
    prefix: 'ncache-s3-daemon-',
    configText: (dataDir) => s3ConfigText({ ...opts, dataDir }),
    env: s3DaemonEnv,
    stopTimeoutMs: 20_000,
  });
}

/**
 * Stops a daemon gracefully (SIGTERM: it uploads what write-behind still owes
 * before exiting) and says whether anything was left owed: the daemon logs
 * "... still owed to the slow tier" when its flush did not finish.
 */
export async function stopAndCheckFlushed(daemon: DaemonProcess): Promise<{ exitCode: number | null; stillOwed: string[] }> {
  const exit = await daemon.stop({ timeoutMs: 60_000 });
  const stillOwed = daemon
    .stderr()
    .split('\n')
    .filter((line) => /still owed to the slow tier/.test(line));
  return { exitCode: exit.forced ? null : exit.code, stillOwed };
}

/** An S3 client straight at s3rver (not through the proxy, so it never shows in the proxy's counts). */
export function bucketClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...S3RVER_CREDENTIALS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export interface BucketObject {
  key: string;
  size: number;
}

/** Every object under a prefix (paginated). */
export async function listObjects(client: S3Client, bucket: string, prefix: string): Promise<BucketObject[]> {
  const out: BucketObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return out;
}

/**
 * Multipart uploads (by uploadId, from the requests a FaultProxy saw) that
 * sent parts but were neither completed nor aborted: they would leave orphan
 * parts. (s3rver implements neither ListMultipartUploads nor abort, so the
 * requests are where this shows.)
 */
export function unfinishedMultipartUploads(requests: readonly { op: string; url: string }[]): string[] {
  const id = (url: string) => new URL(url, 'http://proxy').searchParams.get('uploadId') ?? '?';
  const started = new Set(requests.filter((r) => r.op === 'UploadPart').map((r) => id(r.url)));
  for (const r of requests) {
    if (r.op === 'CompleteMultipartUpload' || r.op === 'AbortMultipartUpload') started.delete(id(r.url));
  }
  return [...started];
}

/** Streams an object and returns its SHA-256 and length. */
export async function hashObject(client: S3Client, bucket: string, key: string): Promise<{ hash: string; size: number }> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of out.Body as Readable) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash: hash.digest('hex'), size };
}

/**
 * Checks that every object under `prefix` is named "<sha256>-<size>" and that
 * its bytes hash to that name: nothing partial, nothing corrupt. Returns the
 * names that fail (empty when all is well) and how many were checked.
 */
export async function verifyObjects(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<{ checked: number; bad: string[] }> {
  const bad: string[] = [];
  const objects = await listObjects(client, bucket, prefix);
  for (const o of objects) {
    const name = o.key.slice(prefix.length);
    const m = /^([0-9a-f]{64})-(\d+)$/.exec(name);
    if (!m) {
      bad.push(`${o.key}: not named <sha256>-<size>`);
      continue;
    }
    const { hash, size } = await hashObject(client, bucket, o.key);
    if (hash !== m[1] || size !== Number(m[2])) bad.push(`${o.key}: holds ${size} bytes hashing to ${hash}`);
  }
  return { checked: objects.length, bad };
}
