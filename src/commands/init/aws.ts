// `ncache init --aws`: write a config in the shape of NativeLink's S3 example
// (templates/aws.json5: verify > dedup { index, compression > chunks }, and
// the AC behind completeness_checking against the CAS, each a fast tier in
// front of an S3 prefix), with filesystem fast
// tiers by default or memory ones with --memory-tier; the IAM policy and
// lifecycle rules for the bucket beside it; and (unless --no-check) probe the bucket.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseConfigText } from '../../config/load.js';
import type { CloudObjectStoreSpec, NcacheConfig } from '../../config/types.js';
import { internal } from '../../util/errors.js';
import { templatesDir } from '../../util/paths.js';
import { SizeParseError, parseSize } from '../../util/sizes.js';
import { UsageError } from '../exit.js';
import { type ExecMachine, fillExecPlaceholders, thisMachine } from './exec.js';
import { type ListenPlan, TOKENS_FILE, bazelrcForListen, checkListen, listenerLines, writeTokensFile } from './listen.js';
import { checkOverwrite, type ExecutionInit, executionInit, initTargetPath, writeFileAtomic } from './run.js';
import { probeBucket, type ProbeReport, type S3Target } from './s3-probe.js';

export const DEFAULT_PREFIX = 'ncache/';
export const IAM_POLICY_FILE = 'iam-policy.json';
export const LIFECYCLE_FILE = 's3-lifecycle.json';

export interface AwsInitOptions {
  bucket?: string;
  region?: string;
  prefix?: string;
  endpoint?: string;
  /** Allow an http:// endpoint that is not on this machine. */
  insecureAllowHttp?: boolean;
  /** Memory fast tiers of this size each (size text, e.g. "100mb") instead of filesystem ones. */
  memoryTier?: string;
  /** Listen on this "HOST:PORT" with bearer-token auth instead of 127.0.0.1:50051 without. */
  listen?: string;
  /** false = --no-check: do not probe the bucket. */
  check: boolean;
  /** --exec: also run actions (scheduler, local worker, execution service). */
  exec?: boolean;
  path?: string;
  force: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface AwsInitResult {
  /** False only when the bucket check ran and failed (the files are written regardless). */
  ok: boolean;
  path: string;
  replaced: boolean;
  iamPolicyPath: string;
  lifecyclePath: string;
  s3: { bucket: string; region: string; prefix: string; endpoint: string | null };
  /** The fast tiers written: "filesystem", or "memory" with their max_bytes each (--memory-tier). */
  fastTier: { kind: 'filesystem' } | { kind: 'memory'; maxBytes: number };
  /** The listener's socket_address. */
  listen: string;
  /** With --listen: the tokens file written beside the config (0600). Never the token itself. */
  tokensFile: string | null;
  /** null with --no-check. */
  check: ProbeReport | null;
  /** With --exec: what runs actions and the .bazelrc lines that use it. */
  execution?: ExecutionInit;
}

/** The fast tier in front of each S3 prefix. */
export type FastTier = { kind: 'filesystem' } | { kind: 'memory'; sizeText: string; maxBytes: number };

/** Checks and normalizes the --aws arguments, collecting every problem. */
export function checkAwsArgs(
  opts: Pick<AwsInitOptions, 'bucket' | 'region' | 'prefix' | 'endpoint' | 'insecureAllowHttp'>,
  env: NodeJS.ProcessEnv = {},
  problems: string[] = [],
): S3Target {
  const endpoint = opts.endpoint === undefined ? undefined : checkEndpoint(opts.endpoint, opts.insecureAllowHttp === true, problems);
  if (opts.bucket === undefined) problems.push('--aws needs --bucket <name>');
  else problems.push(...bucketNameProblems(opts.bucket).map((p) => `--bucket "${opts.bucket}": ${p}`));
  if (opts.region === undefined) problems.push('--aws needs --region <region> (e.g. eu-central-1)');
  else checkRegion(opts.region, endpoint !== undefined || Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL), problems);
  const prefix = normalizePrefix(opts.prefix ?? DEFAULT_PREFIX, problems);
  if (problems.length > 0) throw new UsageError(problems);
  const target: S3Target = { bucket: opts.bucket!, region: opts.region!, prefix };
  if (endpoint !== undefined) target.endpoint = endpoint;
  return target;
}

/** --memory-tier SIZE: a size the config loader accepts, above zero (0 would mean "no limit"). */
export function checkFastTier(memoryTier: string | undefined, problems: string[]): FastTier {
  if (memoryTier === undefined) return { kind: 'filesystem' };
  const where = `--memory-tier "${memoryTier}"`;
  let maxBytes: number;
  try {
    maxBytes = parseSize(memoryTier);
  } catch (err) {
    if (!(err instanceof SizeParseError)) throw err;
    problems.push(`${where}: ${err.message}; expected a size like 100mb or 2GiB`);
    return { kind: 'filesystem' };
  }
  if (maxBytes === 0) problems.push(`${where}: must be more than 0 bytes (each memory tier holds up to this much)`);
  // Written back as the user wrote it (trimmed), so the config reads as they said it.
  return { kind: 'memory', sizeText: memoryTier.trim(), maxBytes };
}

/** S3's naming rules for general purpose buckets. */
export function bucketNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (name.length < 3 || name.length > 63) problems.push(`must be 3 to 63 characters long (is ${name.length})`);
  if (!/^[a-z0-9.-]*$/.test(name)) problems.push('may contain only lowercase letters, digits, dots and hyphens');
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) problems.push('must begin and end with a lowercase letter or digit');
  if (name.includes('..')) problems.push('must not contain two dots in a row');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) problems.push('must not look like an IP address');
  for (const reserved of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(reserved)) problems.push(`must not start with "${reserved}" (reserved by AWS)`);
  }
  for (const reserved of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(reserved)) problems.push(`must not end with "${reserved}" (reserved by AWS)`);
  }
  return problems;
}

function checkRegion(region: string, customEndpoint: boolean, problems: string[]): void {
  // AWS regions look like eu-central-1 or us-gov-west-1; S3-compatible services use their own ("auto", "garage").
  const awsShape = /^[a-z]{2}(-[a-z]+)+-\d+$/;
  if (customEndpoint ? !/^[a-z0-9][a-z0-9-]*$/.test(region) : !awsShape.test(region)) {
    problems.push(
      `--region "${region}": expected an AWS region like eu-central-1 or us-east-1` +
        (customEndpoint ? ' (or the region name your S3-compatible service expects)' : ''),
    );
  }
}

/** "prod" -> "prod/", "/prod/" -> "prod/", "" stays "" (objects at the top of the bucket). */
function normalizePrefix(raw: string, problems: string[]): string {
  let prefix = raw.replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const where = `--prefix "${raw}"`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(prefix)) problems.push(`${where}: must not contain control characters or backslashes`);
  else if (prefix.includes('${')) problems.push(`${where}: must not contain "\${" (the config would read it as a variable)`);
  else if (prefix.split('/').slice(0, -1).some((s) => s === '' || s === '.' || s === '..')) {
    problems.push(`${where}: must not contain empty, "." or ".." path segments`);
  } else if (Buffer.byteLength(prefix) > 512) problems.push(`${where}: must be at most 512 bytes`);
  return prefix;
}

function checkEndpoint(raw: string, insecureAllowHttp: boolean, problems: string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`--endpoint "${raw}": expected a URL like https://s3.example.com:9000`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`--endpoint "${raw}": expected an http:// or https:// URL`);
  } else if (url.username !== '' || url.password !== '') {
    problems.push(`--endpoint "${raw}": must not contain credentials (use the AWS credential chain)`);
  } else if (url.search !== '' || url.hash !== '') {
    problems.push(`--endpoint "${raw}": must not have a query or fragment`);
  } else if (url.protocol === 'http:' && !insecureAllowHttp && !isLoopback(url.hostname)) {
    problems.push(`--endpoint "${raw}" is unencrypted http:// to another machine; use https:// or add --insecure-allow-http`);
  }
  return raw.replace(/\/+$/, '');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}

/** The local tier of each fast_slow, by the name of what it holds (index, dedup-cas, ac). */
const FILESYSTEM_TIERS: Record<string, { maxBytes: string; comment: string[] }> = {
  index: {
    maxBytes: '1gb',
    comment: ['The local tier: one small file per blob\'s chunk list, survives restarts.'],
  },
  'dedup-cas': {
    maxBytes: '10gb',
    comment: [
      'The local tier: one file per compressed chunk, survives restarts.',
      'Least-recently-used chunks are removed locally beyond max_bytes;',
      'they stay in S3 and are fetched again when needed.',
    ],
  },
  ac: { maxBytes: '500mb', comment: ['The local tier for action results.'] },
};

function fastTierLines(tier: FastTier, name: string): string[] {
  if (tier.kind === 'memory') {
    return [
      '// The local tier: in memory (ncache init --aws --memory-tier), emptied',
      '// when the daemon stops; least-recently-used entries go beyond max_bytes.',
      'fast: {',
      '  memory: {',
      `    eviction_policy: { max_bytes: ${JSON.stringify(tier.sizeText)} },`,
      '  },',
      '},',
    ];
  }
  const t = FILESYSTEM_TIERS[name];
  if (t === undefined) throw internal(`templates/aws.json5: unknown fast tier ${JSON.stringify(name)}`);
  return [
    ...t.comment.map((c) => `// ${c}`),
    'fast: {',
    '  filesystem: {',
    `    content_path: "\${NCACHE_CACHE_DIR}/${name}",`,
    '    // Uploads are written here first and moved into place when complete;',
    '    // must be on the same filesystem as content_path.',
    `    temp_path: "\${NCACHE_CACHE_DIR}/tmp-${name}",`,
    `    eviction_policy: { max_bytes: ${JSON.stringify(t.maxBytes)} },`,
    '  },',
    '},',
  ];
}

/**
 * Write-behind needs a fast tier that survives a restart (docs/s3.md): async
 * over filesystem tiers, sync over memory ones.
 */
function slowWriteModeLines(tier: FastTier): string[] {
  if (tier.kind === 'memory') {
    return [
      '// "sync": an upload is acknowledged once S3 has it too. Write-behind',
      '// ("async") would lose acknowledged uploads with the memory tier when',
      '// the daemon stops, so it is not used here.',
      'slow_write_mode: "sync",',
    ];
  }
  return [
    '// "async" (write-behind): an upload is acknowledged once it is in the',
    '// local tier and journaled; the copy to S3 happens in the background and',
    '// survives a restart. Other machines see it once it is uploaded (an index',
    '// entry whose chunks are not all there yet reads as missing, never wrong).',
    '// "sync" waits for S3 before acknowledging.',
    'slow_write_mode: "async",',
  ];
}

const indent = (prefix: string, lines: string[]) => lines.map((l) => `${prefix}${l}\n`).join('');

function template(name: string): string {
  return readFileSync(join(templatesDir(), name), 'utf8');
}

/** templates/aws.json5 with the fast tiers, bucket, region, prefix, endpoint and listener written in. */
export function renderAwsConfig(
  target: S3Target,
  insecureAllowHttp = false,
  tier: FastTier = { kind: 'filesystem' },
  listen: ListenPlan = checkListen(undefined, []),
  exec: ExecMachine | null = null,
): string {
  return fillExecPlaceholders(template('aws.json5'), exec, 'in-front-of-cas')
    .replace(/^( *)\/\/ \{\{listener\}\}\n/gm, (_line, pad: string) => indent(pad, listenerLines(listen)))
    .replace(/^( *)\/\/ \{\{fast ([a-z-]+)\}\}\n/gm, (_line, pad: string, name: string) => indent(pad, fastTierLines(tier, name)))
    .replace(/^( *)\/\/ \{\{slow_write_mode\}\}\n/gm, (_line, pad: string) => indent(pad, slowWriteModeLines(tier)))
    .replace(/^( *)\/\/ \{\{endpoint\}\}\n/gm, (_line, indent: string) => endpointLines(indent, target.endpoint, insecureAllowHttp))
    .replaceAll('"{{region}}"', JSON.stringify(target.region))
    .replaceAll('"{{bucket}}"', JSON.stringify(target.bucket))
    .replace(/"\{\{prefix\}\}([^"]*)"/g, (_m, rest: string) => JSON.stringify(target.prefix + rest));
}

function endpointLines(indent: string, endpoint: string | undefined, insecureAllowHttp: boolean): string {
  if (endpoint === undefined) {
    return [
      '// For an S3-compatible service (MinIO, Ceph, R2) instead of AWS, set',
      '// its URL and path-style addressing (or set AWS_ENDPOINT_URL_S3):',
      '// endpoint: "https://s3.example.com:9000",',
      '// force_path_style: true,',
    ]
      .map((l) => `${indent}${l}\n`)
      .join('');
  }
  const lines = [
    '// The S3-compatible endpoint given to ncache init --aws --endpoint.',
    `endpoint: ${JSON.stringify(endpoint)},`,
    'force_path_style: true,',
  ];
  if (insecureAllowHttp && endpoint.startsWith('http://')) lines.push('insecure_allow_http: true,');
  return lines.map((l) => `${indent}${l}\n`).join('');
}

export function renderIamPolicy(target: S3Target): string {
  return template(IAM_POLICY_FILE).replaceAll('"arn:aws:s3:::{{bucket}}', `"arn:aws:s3:::${target.bucket}`);
}

export function renderLifecycle(target: S3Target): string {
  return template(LIFECYCLE_FILE).replaceAll('"{{prefix}}"', JSON.stringify(target.prefix));
}

/** The first S3 store in the config (the CAS's slow tier): the probe uses the client it gets. */
function firstS3Spec(stores: NcacheConfig['stores']): CloudObjectStoreSpec {
  const stack: unknown[] = stores.map((s) => s.spec);
  while (stack.length > 0) {
    const value = stack.shift();
    if (value === null || typeof value !== 'object') continue;
    if ((value as { kind?: unknown }).kind === 'experimental_cloud_object_store') return value as CloudObjectStoreSpec;
    stack.push(...Object.values(value));
  }
  throw internal('templates/aws.json5 has no experimental_cloud_object_store store');
}

/** What init --aws did, and (with --listen) the .bazelrc lines holding the new token, which --json never prints. */
export interface AwsInitOutcome {
  result: AwsInitResult;
  teamBazelrc: string[] | null;
}

export async function initAws(opts: AwsInitOptions): Promise<AwsInitOutcome> {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  const tier = checkFastTier(opts.memoryTier, problems);
  const listen = checkListen(opts.listen, problems);
  const target = checkAwsArgs(opts, env, problems);
  const path = initTargetPath(opts.path, env);
  const iamPolicyPath = join(dirname(path), IAM_POLICY_FILE);
  const lifecyclePath = join(dirname(path), LIFECYCLE_FILE);
  const tokensFile = listen.auth ? join(dirname(path), TOKENS_FILE) : null;
  const replaced = checkOverwrite([path, iamPolicyPath, lifecyclePath, ...(tokensFile !== null ? [tokensFile] : [])], opts.force);

  // First, because loading the config checks the tokens file it names.
  const token = tokensFile !== null ? await writeTokensFile(tokensFile, listen) : undefined;
  const configText = renderAwsConfig(target, opts.insecureAllowHttp === true, tier, listen, opts.exec ? thisMachine() : null);
  // A template or argument bug must fail here, not when the daemon starts.
  const config = parseConfigText(configText, path, env);

  await writeFileAtomic(iamPolicyPath, renderIamPolicy(target));
  await writeFileAtomic(lifecyclePath, renderLifecycle(target));
  await writeFileAtomic(path, configText);

  const check = opts.check ? await probeBucket(target, firstS3Spec(config.stores), env) : null;
  const result: AwsInitResult = {
    ok: check === null || check.ok,
    path,
    replaced,
    iamPolicyPath,
    lifecyclePath,
    s3: { bucket: target.bucket, region: target.region, prefix: target.prefix, endpoint: target.endpoint ?? null },
    fastTier: tier.kind === 'memory' ? { kind: 'memory', maxBytes: tier.maxBytes } : { kind: 'filesystem' },
    listen: listen.address,
    tokensFile,
    check,
    ...(opts.exec ? { execution: executionInit(config) } : {}),
  };
  return { result, teamBazelrc: token !== undefined ? bazelrcForListen(listen, token) : null };
}
