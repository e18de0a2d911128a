// Builds the AWS SDK v3 S3 client for an experimental_cloud_object_store spec.
// The SDK's own retries are off (maxAttempts 1): the store retries with the
// configured backoff so every retry is counted and each multipart part or
// ranged read is retried alone.
import http from 'node:http';
import https from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { CloudObjectStoreSpec } from '../../config/types.js';

export interface S3ClientOptions {
  /** Upper bound for sending a request and receiving its response headers (default 120 s: a 16 MiB part at ~140 KB/s). */
  requestTimeoutMs?: number;
  /** A socket idle this long fails its request (default 30 s); catches stalls mid-body. */
  socketTimeoutMs?: number;
  /** TCP connect timeout (default 10 s). */
  connectTimeoutMs?: number;
}

/** spec.endpoint, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS's own. */
export function resolveEndpoint(spec: CloudObjectStoreSpec, env: NodeJS.ProcessEnv): string | undefined {
  return spec.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || undefined) ?? (env.AWS_ENDPOINT_URL || undefined);
}

/**
 * Where objects of this spec live, resolved as the client will: endpoint
 * (spec, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS's regional one),
 * bucket and key prefix. What is known about one location says nothing about another.
 */
export function s3Location(spec: CloudObjectStoreSpec, env: NodeJS.ProcessEnv): string {
  const region = resolveRegion(spec, env);
  const endpoint =
    resolveEndpoint(spec, env)?.replace(/\/+$/, '') ??
    (region === undefined ? 'https://s3.<region from the AWS profile>.amazonaws.com' : `https://s3.${region}.amazonaws.com`);
  return `${endpoint}/${spec.bucket}/${spec.key_prefix}`;
}

/** "" in the spec means: AWS_REGION / AWS_DEFAULT_REGION, else whatever the SDK finds (profile config). */
export function resolveRegion(spec: CloudObjectStoreSpec, env: NodeJS.ProcessEnv): string | undefined {
  return spec.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
}

/**
 * Virtual-host addressing needs DNS names like bucket.host; an endpoint that is
 * an IP address or localhost (MinIO, s3rver on this machine) can only be
 * addressed by path, so path style is implied there.
 */
function impliedPathStyle(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  const host = new URL(endpoint).hostname;
  return host === 'localhost' || /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith('[');
}

export function createS3Client(
  spec: CloudObjectStoreSpec,
  env: NodeJS.ProcessEnv,
  options: S3ClientOptions = {},
): S3Client {
  const endpoint = resolveEndpoint(spec, env);
  const region = resolveRegion(spec, env);
  // The store lets additional_max_concurrent_requests requests through at once; bodies of
  // GETs still being read hold sockets beyond that, so the agent allows twice as many.
  const maxSockets = 2 * spec.additional_max_concurrent_requests;
  // Idle pooled sockets are dropped after 4 s: servers close idle keep-alive connections
  // (Node-based ones such as s3rver after 5 s), and reusing one the server is closing
  // fails the request with EPIPE/ECONNRESET.
  const agentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 4_000 };
  const config: S3ClientConfig = {
    maxAttempts: 1,
    // No "Expect: 100-continue" round trip before each body: parts are small (<= 16 MiB),
    // and errors that would stop a body early (403, wrong region) are rare and not retried anyway.
    expectContinueHeader: false,
    forcePathStyle: spec.force_path_style || impliedPathStyle(endpoint),
    // The defaults add flexible checksums with aws-chunked framing, which S3-compatible
    // servers (s3rver among them) may store verbatim; only send them where S3 demands.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: staticCredentials(env) ?? fromNodeProviderChain(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
    // Handler options (not a NodeHttpHandler instance): the SDK builds its own handler from them.
    requestHandler: {
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      connectionTimeout: options.connectTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 120_000,
      throwOnRequestTimeout: true,
      socketTimeout: options.socketTimeoutMs ?? 30_000,
    },
  };
  if (endpoint !== undefined) config.endpoint = endpoint;
  if (region !== undefined) config.region = region;
  return new S3Client(config);
}

/**
 * Keys given in the env handed to us (not necessarily process.env) win;
 * otherwise the standard chain: env, shared files/profiles, SSO, web identity,
 * container and instance metadata.
 */
function staticCredentials(env: NodeJS.ProcessEnv) {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return env.AWS_SESSION_TOKEN
    ? { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN }
    : { accessKeyId, secretAccessKey };
}
