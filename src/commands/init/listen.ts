// `ncache init --aws --listen HOST:PORT`: a listener other machines can
// reach, locked with bearer tokens (listener.http.auth, an ncache
// extension): the config's listener lines, a tokens file beside the config
// with one new token (0600), and the .bazelrc lines that use it.
import { hostname } from 'node:os';
import { parseSocketAddress } from '../../config/schema-servers.js';
import { newToken } from '../../daemon/auth/token-match.js';
import { writeFileAtomic } from './run.js';

export const TOKENS_FILE = 'auth-tokens.txt';

/** Where the daemon listens; `auth` when --listen asked for a shared listener. */
export interface ListenPlan {
  /** "HOST:PORT" as written to socket_address. */
  readonly address: string;
  /** The name teammates connect to: the host, or this machine's name for a wildcard. */
  readonly reachAt: string;
  readonly auth: boolean;
}

const LOOPBACK: ListenPlan = { address: '127.0.0.1:50051', reachAt: '127.0.0.1:50051', auth: false };

/** --listen checked (a concrete port: teammates put it in their .bazelrc); without it, loopback without auth. */
export function checkListen(raw: string | undefined, problems: string[]): ListenPlan {
  if (raw === undefined) return LOOPBACK;
  const parsed = parseSocketAddress(raw);
  if (typeof parsed === 'string') {
    problems.push(`--listen "${raw}": ${parsed}`);
    return LOOPBACK;
  }
  if (parsed.port === 0) problems.push(`--listen "${raw}": give a fixed port (e.g. 50051); teammates put it in their .bazelrc`);
  const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
  const wildcard = parsed.host === '0.0.0.0' || parsed.host === '::';
  return { address: `${host}:${parsed.port}`, reachAt: `${wildcard ? hostname() : host}:${parsed.port}`, auth: true };
}

/** The lines inside `listener.http` of the config. */
export function listenerLines(plan: ListenPlan): string[] {
  if (!plan.auth) {
    return [
      '// Loopback only: nothing outside this machine can reach the cache.',
      `// Point Bazel at it with --remote_cache=grpc://${plan.address}`,
      `socket_address: ${JSON.stringify(plan.address)},`,
    ];
  }
  return [
    '// Reachable from other machines (ncache init --aws --listen), so every',
    '// call needs a bearer token from the tokens file beside this config.',
    '// auth is an ncache extension: NativeLink has no such key.',
    `socket_address: ${JSON.stringify(plan.address)},`,
    'auth: {',
    '  // One token per line, "read" after a token for read-only; 0600.',
    '  // Remove a line to revoke a token: the daemon re-reads the file.',
    `  tokens_file: ${JSON.stringify(TOKENS_FILE)},`,
    '  // true: calls without a token may read (never write).',
    '  allow_unauthenticated_reads: false,',
    '},',
  ];
}

/** Writes the tokens file (0600) with one new write token, and returns the token. */
export async function writeTokensFile(path: string, plan: ListenPlan): Promise<string> {
  const token = newToken();
  const text = [
    `# Bearer tokens for the ncache listener on ${plan.address} (written by ncache init --aws --listen).`,
    '# One token per line; "read" after a token makes it read-only, "write" (the default) lets it upload.',
    '# Keep this file 0600. Remove a line to revoke its token: the daemon re-reads this file within a second.',
    '# Another token: openssl rand -base64 32',
    token,
    '',
  ].join('\n');
  await writeFileAtomic(path, text, 0o600);
  return token;
}

/** What a teammate puts in a user-private bazelrc to use the cache. */
export function bazelrcForListen(plan: ListenPlan, token: string): string[] {
  return [`build --remote_cache=grpc://${plan.reachAt}`, `build --remote_header=authorization=Bearer ${token}`];
}
