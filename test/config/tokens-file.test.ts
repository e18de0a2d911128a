// The tokens file format and its checks: comments, scopes, what a bad line
// says (its number, never its text), permissions, and a missing or empty file.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_TOKEN_LENGTH, parseTokens, readTokensFile } from '../../src/config/tokens-file.js';
import { matchToken } from '../../src/daemon/auth/token-match.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';

const A = 'A1b2C3d4E5f6G7h8I9j0';
const B = 'token+with/slash.and~tilde_==';
const C = 'c'.repeat(MIN_TOKEN_LENGTH);

const problemOf = (text: string) => {
  try {
    parseTokens(text, '/etc/ncache/tokens');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the text to be refused');
};

describe('parseTokens', () => {
  it('reads one token per line, an optional scope (write by default), comments and blank lines', () => {
    const entries = parseTokens(`# team tokens\n\n${A}\n  ${B} read   # CI readers\n${C} write\r\n# end\n`, 'tokens');
    expect(entries.map((e) => e.scope)).toEqual(['write', 'read', 'write']);
    expect(matchToken(A, entries)).toBe('write');
    expect(matchToken(B, entries)).toBe('read');
    expect(matchToken(C, entries)).toBe('write');
  });

  it('names every bad line by number and what is wrong, never its text', () => {
    const message = problemOf(
      [`${A} admin`, 'short-token', `${B.replace('+', '!')}`, `${C} read extra`, B, `${B} read`].join('\n'),
    );
    expect(message).toContain('/etc/ncache/tokens: ');
    expect(message).toContain('line 1: the scope after the token must be "read" or "write"');
    expect(message).toContain(`line 2: the token is shorter than ${MIN_TOKEN_LENGTH} characters`);
    expect(message).toContain('line 3: the token has characters other than letters, digits');
    expect(message).toContain('line 4: more than a token and a scope (start comments with #)');
    expect(message).toContain('line 6: the same token as line 5');
    expect(message).toContain('expected one "TOKEN [read|write]" per line');
    for (const secret of [A, 'short-token', C, B.slice(0, 10)]) expect(message).not.toContain(secret);
  });

  it('refuses a file with no tokens', () => {
    expect(problemOf('')).toMatch(/holds no tokens; add one per line/);
    expect(problemOf('# only a comment\n   \n')).toMatch(/holds no tokens/);
  });
});

describe('readTokensFile', () => {
  let dir = '';
  tempDirPerTest('ncache-tokens-', (d) => (dir = d));

  const write = async (text: string, mode: number) => {
    const path = join(dir, 'tokens');
    await writeFile(path, text);
    await chmod(path, mode);
    return path;
  };

  it('reads a 0600 or 0400 file', async () => {
    expect(readTokensFile(await write(`${A}\n`, 0o600))).toHaveLength(1);
    expect(readTokensFile(await write(`${A}\n${B} read\n`, 0o400))).toHaveLength(2);
  });

  it('refuses a file its group or other users can read or write, saying the chmod', async () => {
    for (const mode of [0o644, 0o640, 0o620, 0o606, 0o660]) {
      const path = await write(`${A}\n`, mode);
      expect(() => readTokensFile(path)).toThrow(`${path} can be read or written by its group or other users (mode 0${mode.toString(8)}); a tokens file must be 0600 or stricter: chmod 600 ${path}`);
    }
  });

  it('refuses a missing file and a directory', async () => {
    const missing = join(dir, 'nope');
    expect(() => readTokensFile(missing)).toThrow(`${missing} does not exist; create it (0600) with one token per line, or remove listener.http.auth`);
    const sub = join(dir, 'sub');
    await mkdir(sub, { mode: 0o700 });
    expect(() => readTokensFile(sub)).toThrow(`${sub} is not a regular file`);
  });
});
