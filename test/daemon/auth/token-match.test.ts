// The comparison's behaviour (its timing is by construction: timingSafeEqual
// over SHA-256 digests, every entry visited): which token matches, with which
// scope, and that nothing short of the exact token does.
import { describe, expect, it } from 'vitest';
import { type TokenEntry, tokenDigest } from '../../../src/config/tokens-file.js';
import { matchToken, newToken } from '../../../src/daemon/auth/token-match.js';

const entry = (token: string, scope: TokenEntry['scope']): TokenEntry => ({ digest: tokenDigest(token), scope });

describe('matchToken', () => {
  const writer = 'w'.repeat(20);
  const reader = 'r'.repeat(20);
  const entries = [entry(writer, 'write'), entry('x'.repeat(20), 'write'), entry(reader, 'read')];

  it('finds the scope of an exact token wherever it is in the list', () => {
    expect(matchToken(writer, entries)).toBe('write');
    expect(matchToken(reader, entries)).toBe('read');
    expect(matchToken(reader, [...entries].reverse())).toBe('read');
  });

  it('matches nothing for a prefix, an extension, another case, an empty string or an empty list', () => {
    for (const guess of [writer.slice(0, -1), writer + 'w', writer.toUpperCase(), ` ${writer}`, '']) {
      expect(matchToken(guess, entries), JSON.stringify(guess)).toBeUndefined();
    }
    expect(matchToken(writer, [])).toBeUndefined();
  });

  it('keeps only digests: no entry holds the token text', () => {
    const [e] = [entry(writer, 'write')];
    expect(e!.digest).toHaveLength(32);
    expect(e!.digest.toString('latin1')).not.toContain('www');
  });
});

describe('newToken', () => {
  it('is 43 base64url characters from 32 random bytes, different every time', () => {
    const tokens = Array.from({ length: 50 }, newToken);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});
