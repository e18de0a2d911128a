// The tokens file a listener's `auth.tokens_file` names (an ncache extension):
//
//   # Comments start with "#", on their own line or after a token.
//   TOKEN              reads and writes
//   TOKEN write        the same
//   TOKEN read         reads only
//
// A token is an RFC 6750 b64token (letters, digits, - . _ ~ + / then any
// "="), at least MIN_TOKEN_LENGTH characters, each listed once. The file must
// be a regular file only its owner can read or write (0600 or stricter) and
// hold at least one token. No message here ever quotes a token or a line.
// The config loader checks the file (so `ncache validate` reports it); the
// daemon reads it again at start and whenever it changes (token-source.ts).
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { NcacheError } from '../util/errors.js';

/** "read": reads only; "write": reads and writes. */
export type TokenScope = 'read' | 'write';

/** One line of the file. Only the token's SHA-256 is kept (src/daemon/auth/token-match.ts compares them). */
export interface TokenEntry {
  readonly digest: Buffer;
  readonly scope: TokenScope;
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export const MIN_TOKEN_LENGTH = 16;

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const SCOPES: readonly TokenScope[] = ['read', 'write'];

const invalid = (message: string) => new NcacheError('FAILED_PRECONDITION', message);

/** Reads and checks the file; a NcacheError (FAILED_PRECONDITION) says what is wrong and how to fix it. */
export function readTokensFile(path: string): TokenEntry[] {
  let fd: number;
  try {
    // Checked before opening: opening a FIFO would block the daemon.
    if (!statSync(path).isFile()) throw invalid(`${path} is not a regular file`);
    fd = openSync(path, 'r');
  } catch (err) {
    throw err instanceof NcacheError ? err : invalid(openProblem(path, err));
  }
  try {
    // The mode of what was opened, so a file swapped in meanwhile is judged by its own.
    const mode = fstatSync(fd).mode;
    if ((mode & 0o077) !== 0) {
      const octal = (mode & 0o777).toString(8).padStart(4, '0');
      throw invalid(
        `${path} can be read or written by its group or other users (mode ${octal}); a tokens file must be 0600 or stricter: chmod 600 ${path}`,
      );
    }
    return parseTokens(readFileSync(fd, 'utf8'), path);
  } finally {
    closeSync(fd);
  }
}

/** The entries of a tokens file's text; `path` is only for messages. */
export function parseTokens(text: string, path: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  const problems: string[] = [];
  const firstLine = new Map<string, number>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = i + 1;
    const fields = raw.replace(/#.*$/, '').trim().split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) continue;
    const read = readLine(fields);
    const seen = typeof read === 'string' ? undefined : firstLine.get(read.token);
    if (typeof read === 'string') problems.push(`line ${line}: ${read}`);
    else if (seen !== undefined) problems.push(`line ${line}: the same token as line ${seen}`);
    else {
      firstLine.set(read.token, line);
      entries.push({ digest: tokenDigest(read.token), scope: read.scope });
    }
  }
  if (problems.length > 0) {
    throw invalid(`${path}: ${problems.join('; ')} (expected one "TOKEN [read|write]" per line)`);
  }
  if (entries.length === 0) {
    throw invalid(`${path} holds no tokens; add one per line, e.g. the output of: openssl rand -base64 32`);
  }
  return entries;
}

/** A line's token and scope (none means "write"), or what is wrong with it. */
function readLine([token = '', scope = 'write', ...rest]: string[]): { token: string; scope: TokenScope } | string {
  if (!B64TOKEN.test(token)) return 'the token has characters other than letters, digits and - . _ ~ + / (and = at the end)';
  if (token.length < MIN_TOKEN_LENGTH) return `the token is shorter than ${MIN_TOKEN_LENGTH} characters; use a long random one`;
  const known = SCOPES.find((s) => s === scope);
  if (known === undefined) return 'the scope after the token must be "read" or "write"';
  if (rest.length > 0) return 'more than a token and a scope (start comments with #)';
  return { token, scope: known };
}

function openProblem(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${path} does not exist; create it (0600) with one token per line, or remove listener.http.auth`;
  if (code === 'EACCES') return `${path} cannot be read by the daemon's user (permission denied)`;
  return `${path} cannot be read: ${(err as Error).message}`;
}
