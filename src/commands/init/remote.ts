// `ncache init --remote grpc://HOST:PORT [--instance NAME] [--token-file F]`:
// writes templates/remote.json5 with the upstream filled in: this machine's
// filesystem tiers in front of the cluster's CAS and AC (grpc stores as the
// slow side of fast_slow), the grpc scheduler forwarding execution to it, and
// the execution service and capabilities Bazel's --remote_executor needs, all
// under the cluster's instance name (the grpc scheduler forwards the name
// Bazel sends).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bazelrcLines } from '../../config/bazelrc.js';
import { parseConfigText } from '../../config/load.js';
import { templatesDir } from '../../util/paths.js';
import { UsageError } from '../exit.js';
import { checkOverwrite, initTargetPath, writeFileAtomic } from './run.js';

export interface RemoteInitOptions {
  /** --remote: grpc://HOST:PORT or grpcs://HOST:PORT. */
  remote: string;
  /** --instance: the cluster's instance name (default ""). */
  instance?: string;
  /** --token-file: a file holding the bearer token sent to the cluster. */
  tokenFile?: string;
  path?: string;
  force: boolean;
  env?: NodeJS.ProcessEnv;
  /** Where a relative --token-file is found (default: the process's working directory). */
  cwd?: string;
}

/** The cluster as written into the config. */
export interface Upstream {
  /** "grpc://HOST:PORT" or "grpcs://HOST:PORT", normalized. */
  address: string;
  instanceName: string;
  tls: boolean;
  /** Absolute path of the token file; null without --token-file. */
  tokenFile: string | null;
}

export interface RemoteInitResult {
  path: string;
  replaced: boolean;
  upstream: Upstream;
  /** Lines for .bazelrc: --remote_cache and --remote_executor at this daemon's listener (and --remote_instance_name unless ""). */
  bazelrcLines: string[];
}

/** --remote checked: grpc://HOST:PORT or grpcs://HOST[:PORT] (443) with nothing after the port; the normalized URL or a problem naming the flag. */
export function parseRemoteUrl(raw: string): { address: string; tls: boolean } | string {
  const problem = (why: string) => `--remote ${JSON.stringify(raw)}: ${why}; expected grpc://HOST:PORT or grpcs://HOST:PORT`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) return problem('not a URL');
  if (scheme !== 'grpc' && scheme !== 'grpcs') return problem(`the scheme ${scheme}:// is not grpc:// or grpcs://`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return problem('not a valid URL');
  }
  if (url.hostname === '') return problem('no host');
  if (url.username !== '' || url.password !== '') return problem('a user or password in the URL (give a token with --token-file)');
  // grpcs:// without a port is the HTTPS port, as the grpc store reads it; grpc:// has no default.
  if (url.port === '' && scheme === 'grpc') return problem('no port');
  if (url.port === '0') return problem('port 0');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    return problem('a path, query or fragment after the port (give the instance name with --instance)');
  }
  return { address: `${scheme}://${url.hostname}:${url.port || '443'}`, tls: scheme === 'grpcs' };
}

/** Checks every --remote flag, collecting all problems into one usage error. */
export function checkRemoteArgs(opts: Pick<RemoteInitOptions, 'remote' | 'instance' | 'tokenFile' | 'cwd'>): Upstream {
  const problems: string[] = [];
  const url = parseRemoteUrl(opts.remote);
  if (typeof url === 'string') problems.push(url);
  const instanceName = opts.instance ?? '';
  if (/[\s"\\]|^\/|\/$|\/\//.test(instanceName)) {
    problems.push(`--instance ${JSON.stringify(instanceName)}: an instance name is path segments separated by single "/", without spaces, quotes or backslashes`);
  }
  let tokenFile: string | null = null;
  if (opts.tokenFile !== undefined) {
    tokenFile = resolve(opts.cwd ?? process.cwd(), opts.tokenFile);
    if (!existsSync(tokenFile)) problems.push(`--token-file ${opts.tokenFile}: ${tokenFile} does not exist`);
    else if (!statSync(tokenFile).isFile()) problems.push(`--token-file ${opts.tokenFile}: ${tokenFile} is not a file`);
  }
  if (problems.length > 0 || typeof url === 'string') throw new UsageError(problems);
  return { address: url.address, instanceName, tls: url.tls, tokenFile };
}

/** The cluster's endpoint as an object: a grpc store's endpoints[] entry, the grpc scheduler's endpoint. */
function endpointLines(u: Upstream): string[] {
  const tls = u.tls
    ? [
        '  // grpcs://: the cluster\'s certificate is checked against the system\'s',
        '  // CAs; for a private CA (or a client certificate), add',
        '  // tls_config: { ca_file: "...", cert_file: "...", key_file: "..." },',
      ]
    : [];
  return ['{', ...tls, `  address: ${JSON.stringify(u.address)},`, '}'];
}

/** Lines shared by the grpc stores and the grpc scheduler: retries and the bearer token. */
function callLines(u: Upstream): string[] {
  const token =
    u.tokenFile === null
      ? ['// A cluster that needs a bearer token: token_file: "<file holding it>",']
      : ['// Each call carries "authorization: Bearer <this file\'s token>".', `token_file: ${JSON.stringify(u.tokenFile)},`];
  return [
    '// A failed call to the cluster is retried after about 0.2 s, doubling,',
    '// at most 4 times (some 3 s in all) before Bazel sees the error.',
    'retry: { max_retries: 4, delay: 0.2, jitter: 0.5 },',
    ...token,
  ];
}

/** templates/remote.json5 with the upstream's lines in its `// {{...}}` placeholders. */
export function renderRemoteConfig(u: Upstream): string {
  const text = readFileSync(join(templatesDir(), 'remote.json5'), 'utf8');
  const endpoint = endpointLines(u);
  const blocks: Record<string, string[]> = {
    upstream: [
      `instance_name: ${JSON.stringify(u.instanceName)},`,
      'endpoints: [',
      ...endpoint.map((l, i) => `  ${l}${i === endpoint.length - 1 ? ',' : ''}`),
      '],',
      ...callLines(u),
    ],
    'upstream endpoint': ['endpoint: ' + endpoint[0], ...endpoint.slice(1, -1), '},', ...callLines(u)],
  };
  return text
    .replace(/^( *)\/\/ \{\{(upstream(?: endpoint)?)\}\}\n/gm, (_line, pad: string, name: string) => (blocks[name] ?? []).map((l) => `${pad}${l}\n`).join(''))
    .replaceAll('"{{instance}}"', JSON.stringify(u.instanceName));
}

export async function initRemote(opts: RemoteInitOptions): Promise<RemoteInitResult> {
  const env = opts.env ?? process.env;
  const upstream = checkRemoteArgs(opts);
  const path = initTargetPath(opts.path, env);
  const replaced = checkOverwrite([path], opts.force);
  const text = renderRemoteConfig(upstream);
  // A template bug must fail here, not when the daemon starts.
  const config = parseConfigText(text, path, env);
  await writeFileAtomic(path, text);
  return { path, replaced, upstream, bazelrcLines: bazelrcLines(config, config.servers.map((s) => s.listener.http.socket_address)) };
}
