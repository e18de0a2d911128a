// The small toolkit the schema files use to read untrusted JSON5 values into
// typed specs. Readers never throw: each problem is recorded in ctx.issues with
// its dot-path, and reading carries on so one pass reports everything.
//
// Contract: a value returned while ctx.issues is non-empty may be partial (a
// required field that failed reads as undefined). The loader throws a
// ConfigError in that case, so partial specs never escape.
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../util/durations.js';
import { parseSize } from '../util/sizes.js';
import type { ConfigIssue } from './errors.js';

/** Marks a string whose ${VAR} expansion failed; that failure is already reported. */
export const INVALID: unique symbol = Symbol('invalid config value');

export interface ReadContext {
  issues: ConfigIssue[];
  env: NodeJS.ProcessEnv;
  /** Relative paths in the config resolve against this directory (the config file's). */
  baseDir: string;
  /** Names used by reference, checked once everything is read (see references.ts). */
  refs: NameRef[];
  /** The top-level store being read, so ref_store cycles can be traced. */
  currentStore?: string;
}

export interface NameRef {
  type: 'store' | 'scheduler';
  name: string;
  /** Dot-path of the field holding the name. */
  path: string;
  /** For ref_store: the top-level store whose tree holds this reference. */
  fromStore?: string;
}

/** Reads a name that must match a defined store or scheduler, remembering where it was used. */
export function refName(type: NameRef['type']): Reader<string> {
  return (ctx, value, path) => {
    const name = str({ nonEmpty: true })(ctx, value, path);
    if (name !== undefined) {
      const ref: NameRef = { type, name, path };
      if (ctx.currentStore !== undefined) ref.fromStore = ctx.currentStore;
      ctx.refs.push(ref);
    }
    return name;
  };
}

export type Reader<T> = (ctx: ReadContext, value: unknown, path: string) => T | undefined;

export function issue(ctx: ReadContext, path: string, message: string): undefined {
  ctx.issues.push({ path, message });
  return undefined;
}

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** "a.b" for identifier keys, 'a["lre-rs"]' for anything else. */
export function joinKey(path: string, key: string): string {
  if (IDENT_RE.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

export function joinIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** How a value reads in "got ..." messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    const text = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(text);
  }
  return String(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------- scalars

export function str(opts: { nonEmpty?: boolean } = {}): Reader<string> {
  return (ctx, value, path) => {
    if (typeof value !== 'string') return issue(ctx, path, `expected a string, got ${describe(value)}`);
    if (opts.nonEmpty && value.trim() === '') return issue(ctx, path, 'expected a non-empty string');
    return value;
  };
}

/** true/false, or the strings "true"/"false" (what a ${VAR} expands to). */
export const bool: Reader<boolean> = (ctx, value, path) => {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return issue(ctx, path, `expected true or false, got ${describe(value)}`);
};

/** An integer, or a string of digits (what a ${VAR} expands to). */
export function int(opts: { min?: number; max?: number } = {}): Reader<number> {
  const min = opts.min ?? 0;
  return (ctx, value, path) => {
    const n = typeof value === 'string' && /^\s*-?[0-9]+\s*$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
      return issue(ctx, path, `expected a whole number, got ${describe(value)}`);
    }
    if (n < min) return issue(ctx, path, `expected a whole number of at least ${min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) {
      return issue(ctx, path, `expected a whole number of at most ${opts.max}, got ${n}`);
    }
    return n;
  };
}

/** A finite number, or a numeric string. */
export function num(opts: { min?: number; max?: number } = {}): Reader<number> {
  return (ctx, value, path) => {
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n)) return issue(ctx, path, `expected a number, got ${describe(value)}`);
    if (opts.min !== undefined && n < opts.min) return issue(ctx, path, `expected a number of at least ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) return issue(ctx, path, `expected a number of at most ${opts.max}, got ${n}`);
    return n;
  };
}

/** Bytes: 4096, "4096", "64kb" (x1000), "64KiB" (x1024). */
export function size(opts: { min?: number } = {}): Reader<number> {
  return (ctx, value, path) => {
    let bytes: number;
    try {
      bytes = parseSize(value);
    } catch {
      return issue(ctx, path, `expected a size like "64kb" or a number of bytes, got ${describe(value)}`);
    }
    if (opts.min !== undefined && bytes < opts.min) {
      return issue(ctx, path, `expected a size of at least ${opts.min} bytes, got ${describe(value)}`);
    }
    return bytes;
  };
}

/** Seconds: 90, "90", "90s", "1h30m", "500ms" (fractional only when allowed). */
export function duration(opts: { fractional?: boolean } = {}): Reader<number> {
  return (ctx, value, path) => {
    let seconds: number;
    try {
      seconds = parseDuration(value);
    } catch {
      return issue(ctx, path, `expected a duration like "90s" or "1h30m" or a number of seconds, got ${describe(value)}`);
    }
    if (!opts.fractional && !Number.isInteger(seconds)) {
      return issue(ctx, path, `expected a whole number of seconds, got ${describe(value)}`);
    }
    return seconds;
  };
}

export function oneOf<const T extends string>(choices: readonly T[]): Reader<T> {
  return (ctx, value, path) => {
    if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
    return issue(ctx, path, `expected one of ${choices.map((c) => JSON.stringify(c)).join(', ')}, got ${describe(value)}`);
  };
}

/** A filesystem path: "~" and "~/x" expand to the home directory; relative paths resolve against ctx.baseDir. */
export const fsPath: Reader<string> = (ctx, value, path) => {
  if (typeof value !== 'string') return issue(ctx, path, `expected a path, got ${describe(value)}`);
  if (value.trim() === '') return issue(ctx, path, 'expected a path, got an empty string');
  let p = value;
  if (p === '~' || p.startsWith('~/')) {
    p = homeDir(ctx.env) + p.slice(1);
  } else if (p.startsWith('~')) {
    return issue(ctx, path, `"~user" paths are not supported, got ${describe(value)}; write the full path`);
  }
  return isAbsolute(p) ? resolve(p) : resolve(ctx.baseDir, p);
};

export function homeDir(env: NodeJS.ProcessEnv): string {
  const home = env.HOME;
  return home !== undefined && home !== '' ? home : homedir();
}

// ---------------------------------------------------------------- containers

export function array<T>(item: Reader<T>, opts: { nonEmpty?: boolean } = {}): Reader<T[]> {
  return (ctx, value, path) => {
    if (!Array.isArray(value)) return issue(ctx, path, `expected an array, got ${describe(value)}`);
    if (opts.nonEmpty && value.length === 0) return issue(ctx, path, 'expected at least one entry, got an empty array');
    return value.map((v, i) => readValue(ctx, v, joinIndex(path, i), item) as T);
  };
}

/** An object used as a map: every key is free, every value read by `item`. */
export function record<T>(item: Reader<T>): Reader<Record<string, T>> {
  return (ctx, value, path) => {
    if (!isPlainObject(value)) return issue(ctx, path, `expected an object, got ${describe(value)}`);
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(value)) out[k] = readValue(ctx, v, joinKey(path, k), item) as T;
    return out;
  };
}

/** An object with known fields: `build` reads them through Fields; anything not read is an unknown field. */
export function object<T>(build: (f: Fields) => T): Reader<T> {
  return (ctx, value, path) => {
    if (!isPlainObject(value)) return issue(ctx, path, `expected an object, got ${describe(value)}`);
    const f = new Fields(ctx, value, path);
    const out = build(f);
    f.finish();
    return out;
  };
}

/** Runs a reader unless the value already failed env expansion (reported once, not twice). */
export function readValue<T>(ctx: ReadContext, value: unknown, path: string, reader: Reader<T>): T | undefined {
  if (value === INVALID) return undefined;
  return reader(ctx, value, path);
}

/**
 * Field access for one object. Every key asked about (read or declared) is
 * known; `finish` reports the rest as unknown fields, suggesting a near name.
 */
export class Fields {
  private readonly known = new Set<string>();
  private readonly rejected = new Set<string>();

  constructor(
    readonly ctx: ReadContext,
    readonly raw: Record<string, unknown>,
    readonly path: string,
  ) {}

  has(key: string): boolean {
    this.known.add(key);
    return Object.hasOwn(this.raw, key) && this.raw[key] !== undefined;
  }

  at(key: string): string {
    return joinKey(this.path, key);
  }

  /**
   * A field that must be present. The return type is T for convenience: when
   * it is missing or invalid an issue is recorded and the (undefined) value is
   * never used, because the load fails.
   */
  req<T>(key: string, reader: Reader<T>, expected?: string): T {
    if (!this.has(key)) {
      issue(this.ctx, this.at(key), `missing required field${expected ? ` (expected ${expected})` : ''}`);
      return undefined as T;
    }
    return readValue(this.ctx, this.raw[key], this.at(key), reader) as T;
  }

  /** An optional field with a default. */
  opt<T>(key: string, reader: Reader<T>, fallback: T): T {
    if (!this.has(key)) return fallback;
    const v = readValue(this.ctx, this.raw[key], this.at(key), reader);
    return v === undefined ? fallback : v;
  }

  /** An optional field without a default; null counts as absent. */
  maybe<T>(key: string, reader: Reader<T>): T | undefined {
    if (!this.has(key) || this.raw[key] === null) return undefined;
    return readValue(this.ctx, this.raw[key], this.at(key), reader);
  }

  /** A NativeLink field ncache does not support: an error naming why, if present. */
  reject(key: string, why: string): void {
    if (this.has(key)) {
      this.rejected.add(key);
      issue(this.ctx, this.at(key), why);
    }
  }

  /** Declares keys as known without reading them (the caller handles them). */
  allow(...keys: string[]): void {
    for (const k of keys) this.known.add(k);
  }

  finish(): void {
    for (const key of Object.keys(this.raw)) {
      if (this.known.has(key) || this.rejected.has(key)) continue;
      const near = nearest(key, [...this.known]);
      const hint = near ? `did you mean "${near}"?` : `expected ${listKeys([...this.known])}`;
      issue(this.ctx, this.at(key), `unknown field (${hint})`);
    }
  }
}

function listKeys(keys: string[]): string {
  return keys.length === 0 ? 'no fields here' : `one of: ${keys.join(', ')}`;
}

/** The candidate within a small edit distance of `word`, for "did you mean" hints. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  if (bestDistance <= limit) return best;
  // A truncated name ("http2_keep_alive" for "http2_keep_alive_interval") is worth a hint when only one name fits.
  const extending = candidates.filter((c) => word.length >= 4 && c.toLowerCase().startsWith(word.toLowerCase()));
  return extending.length === 1 ? extending[0] : undefined;
}

/** Edit distance counting a swap of two neighbours as one edit ("fsat" -> "fast"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * A URL string whose scheme is one of `protocols` (e.g. ["http:", "https:"]).
 * `example` and `schemeHint` complete the messages ("expected a URL like ...").
 */
export function url(opts: { protocols: readonly string[]; example: string; schemeHint: string }): Reader<string> {
  return (ctx, value, path) => {
    const text = str({ nonEmpty: true })(ctx, value, path);
    if (text === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      return issue(ctx, path, `expected a URL like "${opts.example}", got ${describe(value)}`);
    }
    if (!opts.protocols.includes(parsed.protocol)) {
      return issue(ctx, path, `expected ${opts.schemeHint}, got ${describe(value)}`);
    }
    return text;
  };
}
