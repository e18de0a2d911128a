// The bucket check behind `ncache init --aws`: put, read back, list and delete
// one small probe object under the key prefix, with the S3 client the daemon
// would build from the written config, and say for each step what failed and
// how to fix it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { CloudObjectStoreSpec } from '../../config/types.js';
import { createS3Client, resolveEndpoint } from '../../stores/s3/client.js';

export interface S3Target {
  bucket: string;
  region: string;
  /** Ends with "/" or is "". */
  prefix: string;
  /** An S3-compatible endpoint; undefined = AWS (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). */
  endpoint?: string;
}

export type ProbeOperation = 'PutObject' | 'GetObject' | 'ListObjectsV2' | 'DeleteObject';

/** The IAM action each probe step needs. */
export const IAM_ACTION: Record<ProbeOperation, string> = {
  PutObject: 's3:PutObject',
  GetObject: 's3:GetObject',
  ListObjectsV2: 's3:ListBucket',
  DeleteObject: 's3:DeleteObject',
};

export interface ProbeStep {
  operation: ProbeOperation;
  status: 'ok' | 'failed' | 'skipped';
  /** Why it failed or was skipped, and what to do; absent when ok. */
  message?: string;
  /** The S3 error code (AccessDenied, NoSuchBucket, ...) or network error code. */
  errorCode?: string;
  /** Set when the failure was a denied permission: the IAM action to grant. */
  missingPermission?: string;
}

export interface ProbeReport {
  ok: boolean;
  /** The endpoint the requests went to, as the user would recognise it. */
  endpoint: string;
  /** The probe object's key. */
  key: string;
  steps: ProbeStep[];
  /** True when the probe object may still be in the bucket (put worked, delete did not). */
  leftBehind: boolean;
}

/** The client the S3 store would build for this spec, with short timeouts: a probe must not hang. */
export function createProbeClient(spec: CloudObjectStoreSpec, env: NodeJS.ProcessEnv): S3Client {
  return createS3Client(spec, env, { connectTimeoutMs: 5_000, requestTimeoutMs: 15_000, socketTimeoutMs: 15_000 });
}

function describeEndpoint(spec: CloudObjectStoreSpec, env: NodeJS.ProcessEnv): string {
  return resolveEndpoint(spec, env) ?? `https://s3.${spec.region}.amazonaws.com`;
}

interface Failure {
  message: string;
  errorCode: string;
  missingPermission?: string;
  /** Every later step would fail the same way (no bucket, wrong region, no credentials, no network). */
  fatal: boolean;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
const CREDENTIAL_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired']);
const WRONG_REGION_CODES = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException']);

/** Turns an SDK error from one probe step into what the user needs to know. */
export function classifyFailure(err: unknown, operation: ProbeOperation, target: S3Target, endpoint: string): Failure {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    Region?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { headers?: Record<string, string | undefined> };
  };
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const detail = e.message ?? String(err);
  const bucketArn = `arn:aws:s3:::${target.bucket}`;

  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(detail)) {
    return {
      errorCode: 'NoCredentials',
      fatal: true,
      message:
        'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials, ' +
        `or log in with aws sso login (${detail})`,
    };
  }
  const networkCode = e.code ?? (NETWORK_CODES.has(name) ? name : undefined);
  if ((networkCode !== undefined && NETWORK_CODES.has(networkCode)) || name === 'TimeoutError' || name === 'RequestTimeout') {
    return {
      errorCode: networkCode ?? name,
      fatal: true,
      message: `cannot reach S3 at ${endpoint}: ${detail}; check --endpoint (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) and your network`,
    };
  }
  if (name === 'NoSuchBucket') {
    return {
      errorCode: name,
      fatal: true,
      message: `bucket "${target.bucket}" does not exist at ${endpoint}: create it (aws s3 mb s3://${target.bucket} --region ${target.region}) or fix --bucket`,
    };
  }
  const bucketRegion = e.$response?.headers?.['x-amz-bucket-region'] ?? e.Region ?? /expecting '([a-z0-9-]+)'/.exec(detail)?.[1];
  if (WRONG_REGION_CODES.has(name) || status === 301 || (bucketRegion !== undefined && bucketRegion !== target.region)) {
    const where = bucketRegion !== undefined && bucketRegion !== target.region ? `is in region ${bucketRegion}` : 'is not in this region';
    const fix = bucketRegion !== undefined && bucketRegion !== target.region ? `rerun with --region ${bucketRegion}` : 'fix --region';
    return { errorCode: name, fatal: true, message: `bucket "${target.bucket}" ${where}, not ${target.region}: ${fix}` };
  }
  if (CREDENTIAL_CODES.has(name)) {
    return { errorCode: name, fatal: true, message: `S3 rejected the credentials (${name}): ${detail}; check the AWS credentials ncache picks up` };
  }
  if (name === 'AccessDenied' || status === 403) {
    const action = IAM_ACTION[operation];
    const resource = operation === 'ListObjectsV2' ? bucketArn : `${bucketArn}/${target.prefix}*`;
    return {
      errorCode: name,
      fatal: false,
      missingPermission: action,
      message: `access denied: the credentials lack ${action} on ${resource} (grant it with iam-policy.json, and check bucket policies)`,
    };
  }
  const code = err instanceof S3ServiceException || status !== undefined ? `${name} (HTTP ${status ?? '?'})` : name;
  return { errorCode: name, fatal: false, message: `${code}: ${detail}` };
}

/**
 * Runs the four probe steps under target.prefix with the client `spec` (one of
 * the config's S3 stores) gives; never throws for S3 failures (they are in the report).
 */
export async function probeBucket(target: S3Target, spec: CloudObjectStoreSpec, env: NodeJS.ProcessEnv): Promise<ProbeReport> {
  const endpoint = describeEndpoint(spec, env);
  const client = createProbeClient(spec, env);
  const key = `${target.prefix}ncache-init-probe-${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-${randomBytes(6).toString('hex')}`;
  const body = Buffer.from(`ncache init --aws probe object, safe to delete (${new Date().toISOString()})\n${randomBytes(16).toString('hex')}\n`);
  const steps: ProbeStep[] = [];
  let fatal: Failure | undefined;

  const run = async (operation: ProbeOperation, action: () => Promise<string | undefined>, needs?: ProbeStep): Promise<ProbeStep> => {
    let step: ProbeStep;
    if (fatal !== undefined) {
      step = { operation, status: 'skipped', message: `not tried: ${fatal.errorCode}` };
    } else if (needs !== undefined && needs.status !== 'ok') {
      step = { operation, status: 'skipped', message: `not tried: ${needs.operation} failed` };
    } else {
      try {
        const problem = await action();
        step = problem === undefined ? { operation, status: 'ok' } : { operation, status: 'failed', message: problem, errorCode: 'Mismatch' };
      } catch (err) {
        const failure = classifyFailure(err, operation, target, endpoint);
        if (failure.fatal) fatal = failure;
        step = { operation, status: 'failed', message: failure.message, errorCode: failure.errorCode };
        if (failure.missingPermission !== undefined) step.missingPermission = failure.missingPermission;
      }
    }
    steps.push(step);
    return step;
  };

  try {
    const put = await run('PutObject', async () => {
      await client.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body, ContentLength: body.length }));
      return undefined;
    });
    await run(
      'GetObject',
      async () => {
        const got = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
        const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
        return bytes.equals(body) ? undefined : `read back ${bytes.length} bytes that differ from the ${body.length} written (the endpoint alters objects)`;
      },
      put,
    );
    // Listing and deleting are tried even when the put failed, so one run reports every missing permission.
    await run('ListObjectsV2', async () => {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: target.bucket, Prefix: key, MaxKeys: 10 }));
      const found = (listed.Contents ?? []).some((o) => o.Key === key);
      if (put.status !== 'ok' || found) return undefined;
      return `the probe object ${key} was written but is not listed under its prefix`;
    });
    const del = await run('DeleteObject', async () => {
      await client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: key }));
      return undefined;
    });
    return {
      ok: steps.every((s) => s.status === 'ok'),
      endpoint,
      key,
      steps,
      leftBehind: put.status === 'ok' && del.status !== 'ok',
    };
  } finally {
    client.destroy();
  }
}
