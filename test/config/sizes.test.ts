import { describe, expect, it } from 'vitest';
import { formatBytes, parseSize, tryParseSize } from '../../src/util/sizes.js';

describe('parseSize', () => {
  it('treats bare integers and digit strings as bytes', () => {
    expect(parseSize(0)).toBe(0);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize(' 12 ')).toBe(12);
  });

  it('reads decimal units as powers of 1000, any case', () => {
    expect(parseSize('100mb')).toBe(100_000_000);
    expect(parseSize('100MB')).toBe(100_000_000);
    expect(parseSize('100m')).toBe(100_000_000);
    expect(parseSize('64k')).toBe(64_000);
    expect(parseSize('64kb')).toBe(64_000);
    expect(parseSize('10gb')).toBe(10_000_000_000);
    expect(parseSize('2TB')).toBe(2_000_000_000_000);
    expect(parseSize('7b')).toBe(7);
    expect(parseSize('100 MB')).toBe(100_000_000);
  });

  it('reads binary units as powers of 1024, any case', () => {
    expect(parseSize('1MiB')).toBe(1_048_576);
    expect(parseSize('1Mi')).toBe(1_048_576);
    expect(parseSize('1mib')).toBe(1_048_576);
    expect(parseSize('64KiB')).toBe(65_536);
    expect(parseSize('128mib')).toBe(128 * 2 ** 20);
    expect(parseSize('1gi')).toBe(2 ** 30);
  });

  it('accepts fractions that come out whole', () => {
    expect(parseSize('1.5kb')).toBe(1500);
    expect(parseSize('1.1kb')).toBe(1100);
    expect(parseSize('0.5KiB')).toBe(512);
  });

  it('rejects what is not a size, with a reason', () => {
    expect(() => parseSize('abc')).toThrow(/not a size: "abc"/);
    expect(() => parseSize('10xb')).toThrow(/unknown size unit "xb"/);
    expect(() => parseSize('1.5b')).toThrow(/not a whole number of bytes/);
    expect(() => parseSize(-1)).toThrow(/non-negative/);
    expect(() => parseSize(1.5)).toThrow(/whole/);
    expect(() => parseSize('-5mb')).toThrow(/not a size/);
    expect(() => parseSize('')).toThrow(/not a size/);
    expect(() => parseSize(true)).toThrow(/got boolean/);
    expect(() => parseSize('99999999pb')).toThrow(/too large/);
    expect(tryParseSize('nope')).toBeUndefined();
    expect(tryParseSize('1kb')).toBe(1000);
  });
});

describe('formatBytes', () => {
  it('prints decimal units by default so "10gb" reads back as 10 GB', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1500)).toBe('1.5 kB');
    expect(formatBytes(10_000_000_000)).toBe('10 GB');
    expect(formatBytes(123_456_789)).toBe('123 MB');
    expect(formatBytes(12_345_678)).toBe('12.3 MB');
    // Whole numbers keep their zeros (only fractions are trimmed).
    expect(formatBytes(300_000)).toBe('300 kB');
    expect(formatBytes(200_000_000_000)).toBe('200 GB');
  });

  it('prints binary units on request', () => {
    expect(formatBytes(1_048_576, { binary: true })).toBe('1 MiB');
    expect(formatBytes(1536, { binary: true })).toBe('1.5 KiB');
  });
});
