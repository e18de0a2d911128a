// A listener's tokens, kept current: the file is stat'ed at most once per
// recheck interval and re-read when it changed, so a revoked token stops
// working for new calls within about a second, without a restart. A change
// that leaves the file unusable (deleted, chmod 644, emptied, a bad line)
// fails closed: no call is let in until it is fixed, because keeping the old
// tokens would keep a revoked one alive. Calls already running are not cut.
import { statSync } from 'node:fs';
import type { Clock } from '../../util/clock.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { type TokenEntry, readTokensFile } from '../../config/tokens-file.js';

export const TOKENS_RECHECK_MS = 1000;

export type CurrentTokens = { readonly entries: readonly TokenEntry[] } | { readonly problem: string };

export class TokenSource {
  private tokens: CurrentTokens;
  private signature: string;
  private checkedAt: number;

  /** Reads the file now: a NcacheError if it is unusable (the daemon does not start). */
  constructor(
    readonly path: string,
    private readonly deps: { clock: Clock; logger: Logger; recheckMs?: number },
  ) {
    this.signature = fileSignature(path);
    this.tokens = { entries: readTokensFile(path) };
    this.checkedAt = deps.clock.now();
  }

  /** The tokens to check a call against, or why none can be. */
  current(): CurrentTokens {
    const now = this.deps.clock.now();
    if (now - this.checkedAt >= (this.deps.recheckMs ?? TOKENS_RECHECK_MS)) {
      this.checkedAt = now;
      this.reloadIfChanged();
    }
    return this.tokens;
  }

  private reloadIfChanged(): void {
    const signature = fileSignature(this.path);
    if (signature === this.signature) return;
    // Taken before reading: a change while reading is seen at the next check.
    this.signature = signature;
    try {
      const entries = readTokensFile(this.path);
      this.tokens = { entries };
      this.deps.logger.info(`re-read ${this.path}: ${entries.length} token(s)`);
    } catch (err) {
      this.tokens = { problem: errorMessage(err) };
      this.deps.logger.warn(`${errorMessage(err)}; every call that needs a token is refused until the file is fixed`);
    }
  }
}

/** What changes when the file is edited, replaced, deleted or chmod'ed. */
function fileSignature(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}
