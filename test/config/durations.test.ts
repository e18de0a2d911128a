import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, tryParseDuration } from '../../src/util/durations.js';

describe('parseDuration', () => {
  it('treats bare numbers as seconds, fractions included', () => {
    expect(parseDuration(90)).toBe(90);
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration(0.3)).toBe(0.3);
    expect(parseDuration('0.3')).toBe(0.3);
  });

  it('reads unit strings', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('1h2m3s')).toBe(3723);
    expect(parseDuration('1d')).toBe(86_400);
    expect(parseDuration('2w')).toBe(1_209_600);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(parseDuration('1h 30m')).toBe(5400);
    expect(parseDuration('1.5s')).toBe(1.5);
    expect(parseDuration('10 minutes')).toBe(600);
    expect(parseDuration('1M')).toBe(60);
  });

  it('rejects what is not a duration, with a reason', () => {
    expect(() => parseDuration('abc')).toThrow(/not a duration: "abc"/);
    expect(() => parseDuration('5x')).toThrow(/unknown duration unit "x"/);
    expect(() => parseDuration('1h-2m')).toThrow(/not a duration/);
    expect(() => parseDuration('')).toThrow(/empty/);
    expect(() => parseDuration(-1)).toThrow(/non-negative/);
    expect(() => parseDuration(Number.POSITIVE_INFINITY)).toThrow(/non-negative/);
    expect(() => parseDuration({})).toThrow(/got an object/);
    expect(tryParseDuration('nope')).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('round-trips through parseDuration', () => {
    for (const s of [0, 0.25, 10, 59, 61, 3723, 86_400 + 1]) {
      expect(parseDuration(formatDuration(s))).toBe(s);
    }
    expect(formatDuration(3723)).toBe('1h2m3s');
    expect(formatDuration(0.3)).toBe('300ms');
  });
});
