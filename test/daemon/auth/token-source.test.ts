// Reloading the tokens file: at most one stat per recheck interval (driven by
// a manual clock), a changed file re-read, an unusable one failing closed
// until it is fixed.
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchToken } from '../../../src/daemon/auth/token-match.js';
import { type CurrentTokens, TokenSource } from '../../../src/daemon/auth/token-source.js';
import { ManualClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDirPerTest } from '../../helpers/temp-dir.js';

const OLD = 'old-token-0123456789';
const NEW = 'new-token-0123456789';

const scopeOf = (current: CurrentTokens, token: string) => ('entries' in current ? matchToken(token, current.entries) : current.problem);

describe('TokenSource', () => {
  let dir = '';
  tempDirPerTest('ncache-token-source-', (d) => (dir = d));

  const open = async () => {
    const path = join(dir, 'tokens');
    await writeFile(path, `${OLD}\n`, { mode: 0o600 });
    const clock = new ManualClock();
    return { path, clock, source: new TokenSource(path, { clock, logger: silentLogger, recheckMs: 1000 }) };
  };

  it('sees an edit at the first check after the interval, not before', async () => {
    const { path, clock, source } = await open();
    await writeFile(path, `${NEW} read\n`);
    clock.advance(999);
    expect(scopeOf(source.current(), OLD)).toBe('write');
    clock.advance(1);
    const current = source.current();
    expect(scopeOf(current, OLD)).toBeUndefined();
    expect(scopeOf(current, NEW)).toBe('read');
  });

  it('fails closed while the file is deleted, emptied or too open, and recovers when fixed', async () => {
    const { path, clock, source } = await open();
    const after = () => {
      clock.advance(1000);
      return source.current();
    };
    await rm(path);
    expect(after()).toEqual({ problem: expect.stringContaining('does not exist') });
    await writeFile(path, '', { mode: 0o600 });
    expect(after()).toEqual({ problem: expect.stringContaining('holds no tokens') });
    await writeFile(path, `${OLD}\n`);
    await chmod(path, 0o644);
    expect(after()).toEqual({ problem: expect.stringContaining('chmod 600') });
    await chmod(path, 0o600);
    expect(scopeOf(after(), OLD)).toBe('write');
  });

  it('refuses to start on an unusable file', async () => {
    const path = join(dir, 'tokens');
    await writeFile(path, `${OLD}\n`, { mode: 0o644 });
    expect(() => new TokenSource(path, { clock: new ManualClock(), logger: silentLogger })).toThrow(/chmod 600/);
  });
});
