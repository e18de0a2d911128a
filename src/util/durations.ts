// Durations as people write them in config files: "1h2m3s", "1d", "500ms",
// "1h 30m", or a bare number of seconds. The result is seconds, possibly
// fractional (retry delays are fractions of a second); callers that need
// whole seconds check Number.isInteger themselves.

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  msec: 0.001,
  millis: 0.001,
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86400,
  day: 86400,
  days: 86400,
  w: 604800,
  week: 604800,
  weeks: 604800,
};

const BARE_NUMBER_RE = /^\s*[0-9]+(?:\.[0-9]+)?\s*$/;
const PART_RE = /([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)/giy;

export class DurationParseError extends Error {
  override name = 'DurationParseError';
}

/** Parses a duration into seconds. Throws DurationParseError with a reason. */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new DurationParseError(`a duration must be a non-negative number of seconds, got ${String(value)}`);
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new DurationParseError(`a duration must be a number of seconds or a string like "1h30m", got ${typeName(value)}`);
  }
  if (BARE_NUMBER_RE.test(value)) return Number(value);

  const text = value.trim();
  if (text === '') throw new DurationParseError('a duration cannot be empty');
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    // Allow spaces between parts: "1h 30m".
    while (text[pos] === ' ') pos++;
    if (pos >= text.length) break;
    PART_RE.lastIndex = pos;
    const m = PART_RE.exec(text);
    if (!m) throw new DurationParseError(`not a duration: ${JSON.stringify(value)} (use e.g. "90s", "1h30m", "1d")`);
    const unit = m[2]!.toLowerCase();
    const seconds = UNIT_SECONDS[unit];
    if (seconds === undefined) {
      throw new DurationParseError(`unknown duration unit ${JSON.stringify(m[2])} in ${JSON.stringify(value)} (use ms, s, m, h, d, w)`);
    }
    total += Number(m[1]) * seconds;
    pos = PART_RE.lastIndex;
  }
  // Sums of millisecond parts pick up float noise; three decimals is exact enough.
  return Math.round(total * 1000) / 1000;
}

/** Like parseDuration, but returns undefined instead of throwing. */
export function tryParseDuration(value: unknown): number | undefined {
  try {
    return parseDuration(value);
  } catch {
    return undefined;
  }
}

/** "1h2m3s", "45s", "250ms", "0s": the inverse of parseDuration for messages. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  let rest = Math.round(seconds * 1000) / 1000;
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      parts.push(`${n}${unit}`);
      rest -= n * size;
    }
  }
  if (rest > 0) parts.push(`${Number(rest.toFixed(3))}s`);
  return parts.join('');
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}
