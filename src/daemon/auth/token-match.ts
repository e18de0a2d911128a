// Bearer tokens are compared through their SHA-256 digests with
// timingSafeEqual, against every entry on every call: how long a check takes
// says nothing about how much of a guess was right or which entry it was near.
// Only the digests are kept in memory (config/tokens-file.ts).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type TokenEntry, type TokenScope, tokenDigest } from '../../config/tokens-file.js';

/** The scope of the entry `presented` is, or undefined. Every entry is compared, whatever matched before. */
export function matchToken(presented: string, entries: readonly TokenEntry[]): TokenScope | undefined {
  const digest = tokenDigest(presented);
  let scope: TokenScope | undefined;
  for (const entry of entries) {
    const same = timingSafeEqual(digest, entry.digest);
    // The tokens file never holds one token twice, so at most one entry matches.
    if (same) scope = entry.scope;
  }
  return scope;
}

/** A new token: 32 random bytes, base64url (43 characters a header and a .bazelrc take as they are). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}
