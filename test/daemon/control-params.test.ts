// Each control method's params parser (src/daemon/control/params.ts): valid
// params pass through, absent and null fields are left out, and a bad one is
// an INVALID_ARGUMENT naming the method and the field.
import { describe, expect, it } from 'vitest';
import { PARAM_PARSERS } from '../../src/daemon/control/params.js';
import { NcacheError } from '../../src/util/errors.js';

const HASH = 'a'.repeat(64);

function problem(run: () => unknown): NcacheError {
  try {
    run();
  } catch (err) {
    if (err instanceof NcacheError) return err;
    throw err;
  }
  throw new Error('expected the parser to refuse the params');
}

describe('control params', () => {
  it('passes valid params through and treats null as absent', () => {
    expect(PARAM_PARSERS.gc({ targetBytes: 10, olderThanSeconds: 1.5, dryRun: true, orphanGraceSeconds: null })).toEqual({
      targetBytes: 10,
      olderThanSeconds: 1.5,
      orphanGraceSeconds: undefined,
      dryRun: true,
    });
    expect(PARAM_PARSERS.get({ hash: HASH, size: 3, instance: 'main' })).toEqual({ hash: HASH, size: 3, ac: undefined, instance: 'main' });
    expect(PARAM_PARSERS.ls({ type: 'cas', sort: 'size', limit: 0 })).toEqual({ type: 'cas', sort: 'size', limit: 0 });
    expect(PARAM_PARSERS.verify({})).toEqual({ tier: undefined, repair: undefined });
    expect(PARAM_PARSERS.status({ ignored: 1 })).toEqual({});
    expect(PARAM_PARSERS.ops({ scheduler: 'MAIN', stage: 'executing', limit: 5 })).toEqual({ scheduler: 'MAIN', stage: 'executing', limit: 5 });
    expect(PARAM_PARSERS.ops({ stage: null })).toEqual({ scheduler: undefined, stage: undefined, limit: undefined });
  });

  it('names the method and the field of a bad param', () => {
    const cases: [() => unknown, string][] = [
      [() => PARAM_PARSERS.gc({ targetBytes: -1 }), 'gc: param "targetBytes" must be a whole number >= 0, got -1'],
      [() => PARAM_PARSERS.gc({ olderThanSeconds: 'week' }), 'gc: param "olderThanSeconds" must be a number of seconds >= 0, got "week"'],
      [() => PARAM_PARSERS.shutdown({ force: 'yes' }), 'shutdown: param "force" must be a boolean, got "yes"'],
      [() => PARAM_PARSERS.ls({ sort: 'date' }), 'ls: param "sort" must be one of "size", "atime", "name", got "date"'],
      [() => PARAM_PARSERS.verify({ tier: 'cold' }), 'verify: param "tier" must be one of "fast", "slow", "all", got "cold"'],
      [() => PARAM_PARSERS.get({ hash: 'ABC' }), 'get: param "hash" must be 64 lowercase hex digits (a SHA-256), got "ABC"'],
      [() => PARAM_PARSERS.get({}), 'get: param "hash" must be 64 lowercase hex digits (a SHA-256), got nothing'],
      [() => PARAM_PARSERS.get({ hash: HASH, size: 1.5 }), 'get: param "size" must be a whole number >= 0, got 1.5'],
      [() => PARAM_PARSERS.ops({ stage: 'done' }), 'ops: param "stage" must be one of "queued", "executing", "completed", "all", got "done"'],
      [() => PARAM_PARSERS.ops({ scheduler: 3 }), 'ops: param "scheduler" must be a string, got 3'],
      [() => PARAM_PARSERS.ops({ limit: -2 }), 'ops: param "limit" must be a whole number >= 0, got -2'],
    ];
    for (const [run, message] of cases) {
      const err = problem(run);
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toBe(message);
    }
  });
});
