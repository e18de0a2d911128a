// Byte sizes as people write them in config files: "100mb", "1MiB", 4096.
// Decimal units (k, kb, m, mb, ...) are powers of 1000 and binary units
// (ki, kib, mi, mib, ...) powers of 1024, matching NativeLink, so a config
// copied from there keeps its meaning.

const DECIMAL: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  p: 1e15,
  pb: 1e15,
};

const BINARY: Record<string, number> = {
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
  pi: 2 ** 50,
  pib: 2 ** 50,
};

const SIZE_RE = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i;

export class SizeParseError extends Error {
  override name = 'SizeParseError';
}

/**
 * Parses a size in bytes. A number must be a non-negative integer (bytes); a
 * string is digits with an optional unit, case-insensitive, optional space
 * ("100mb", "1.5 GiB", "64k"). Throws SizeParseError with a reason.
 */
export function parseSize(value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new SizeParseError(`a size must be a whole, non-negative number of bytes, got ${String(value)}`);
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new SizeParseError(`a size must be a number of bytes or a string like "64kb", got ${describeType(value)}`);
  }
  const m = SIZE_RE.exec(value);
  if (!m) throw new SizeParseError(`not a size: ${JSON.stringify(value)}`);
  const digits = m[1]!;
  const unit = m[2]!.toLowerCase();
  const multiplier = DECIMAL[unit] ?? BINARY[unit];
  if (multiplier === undefined) {
    throw new SizeParseError(`unknown size unit ${JSON.stringify(m[2])} (use b, kb, mb, gb, tb or kib, mib, gib, tib)`);
  }
  const bytes = Number(digits) * multiplier;
  // Multiplying a decimal fraction can land a hair off an integer (1.1 * 1e3).
  const rounded = Math.round(bytes);
  if (Math.abs(bytes - rounded) > 1e-6 * Math.max(1, multiplier)) {
    throw new SizeParseError(`${JSON.stringify(value)} is not a whole number of bytes`);
  }
  if (!Number.isSafeInteger(rounded)) throw new SizeParseError(`${JSON.stringify(value)} is too large`);
  return rounded;
}

/** Like parseSize, but returns undefined instead of throwing. */
export function tryParseSize(value: unknown): number | undefined {
  try {
    return parseSize(value);
  } catch {
    return undefined;
  }
}

const SI_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
const IEC_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * A size for humans: "512 B", "1.5 MB", "10 GB". Decimal units by default, so
 * a configured "10gb" prints as "10 GB"; `binary: true` gives KiB/MiB/GiB.
 */
export function formatBytes(bytes: number, opts: { binary?: boolean } = {}): string {
  const base = opts.binary ? 1024 : 1000;
  const units = opts.binary ? IEC_UNITS : SI_UNITS;
  const sign = bytes < 0 ? '-' : '';
  let n = Math.abs(bytes);
  let i = 0;
  while (n >= base && i < units.length - 1) {
    n /= base;
    i++;
  }
  if (i === 0) return `${sign}${n} B`;
  // Three significant digits is plenty for a human, and trailing ".0" is noise.
  const text = n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  // Only a fraction loses its trailing zeros: "300" must stay "300", not "3".
  return `${sign}${text.includes('.') ? text.replace(/\.?0+$/, '') : text} ${units[i]}`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}
