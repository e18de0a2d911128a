// The stackless errors of expected outcomes (a miss, an ended call): they keep
// their code and message, carry no frames, and leave Error.stackTraceLimit as
// it was, even when building the error throws.
import { describe, expect, it } from 'vitest';
import { NcacheError, errorCode, notFound, withoutStack } from '../../src/util/errors.js';

const frames = (err: Error) => (err.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at '));

describe('withoutStack', () => {
  it('builds the error with no stack frames and its code and message intact', () => {
    const err = withoutStack(() => new NcacheError('CANCELLED', 'the call has ended'));
    expect(err).toBeInstanceOf(NcacheError);
    expect(err.code).toBe('CANCELLED');
    expect(err.message).toBe('the call has ended');
    expect(frames(err)).toEqual([]);
  });

  it('leaves other errors their stacks, before and after', () => {
    const limit = Error.stackTraceLimit;
    expect(frames(new Error('before')).length).toBeGreaterThan(0);
    withoutStack(() => new Error('none'));
    expect(Error.stackTraceLimit).toBe(limit);
    expect(frames(new Error('after')).length).toBeGreaterThan(0);
  });

  it('restores the limit when building the error throws', () => {
    const limit = Error.stackTraceLimit;
    expect(() =>
      withoutStack(() => {
        throw new Error('broken constructor');
      }),
    ).toThrow('broken constructor');
    expect(Error.stackTraceLimit).toBe(limit);
  });

  it('notFound is a stackless NOT_FOUND', () => {
    const miss = notFound('blob abc/3 not found');
    expect(errorCode(miss)).toBe('NOT_FOUND');
    expect(frames(miss)).toEqual([]);
  });
});
