// One parser per control method, turning the request's raw params into the
// method's params (api.ts). A bad param is an INVALID_ARGUMENT naming the
// method and the field; unknown fields are ignored (a newer command may send
// more). null counts as absent, as JSON has no undefined.
import { invalidArgument } from '../../util/errors.js';
import type { ControlMethodName, ParamsOf } from './api.js';

export type RawParams = Readonly<Record<string, unknown>>;

export const PARAM_PARSERS: { readonly [M in ControlMethodName]: (raw: RawParams) => ParamsOf<M> } = {
  status: () => ({}),
  stats: () => ({}),
  upstreams: () => ({}),
  shutdown: (raw) => {
    const p = new ParamReader('shutdown', raw);
    return { force: p.boolean('force') };
  },
  ls: (raw) => {
    const p = new ParamReader('ls', raw);
    return { type: p.oneOf('type', ['cas', 'ac', 'all'] as const), sort: p.oneOf('sort', ['size', 'atime', 'name'] as const), limit: p.count('limit') };
  },
  get: (raw) => {
    const p = new ParamReader('get', raw);
    return { hash: p.sha256('hash'), size: p.count('size'), ac: p.boolean('ac'), instance: p.string('instance') };
  },
  gc: (raw) => {
    const p = new ParamReader('gc', raw);
    return {
      targetBytes: p.count('targetBytes'),
      olderThanSeconds: p.seconds('olderThanSeconds'),
      orphanGraceSeconds: p.seconds('orphanGraceSeconds'),
      dryRun: p.boolean('dryRun'),
    };
  },
  verify: (raw) => {
    const p = new ParamReader('verify', raw);
    return { tier: p.oneOf('tier', ['fast', 'slow', 'all'] as const), repair: p.boolean('repair') };
  },
  ops: (raw) => {
    const p = new ParamReader('ops', raw);
    return {
      scheduler: p.string('scheduler'),
      stage: p.oneOf('stage', ['queued', 'executing', 'completed', 'all'] as const),
      limit: p.count('limit'),
    };
  },
};

/** Reads typed fields out of one method's raw params; each reader returns undefined for an absent field. */
class ParamReader {
  constructor(
    private readonly method: ControlMethodName,
    private readonly raw: RawParams,
  ) {}

  boolean(name: string): boolean | undefined {
    return this.read(name, 'a boolean', (v): v is boolean => typeof v === 'boolean');
  }

  string(name: string): string | undefined {
    return this.read(name, 'a string', (v): v is string => typeof v === 'string');
  }

  /** A whole number >= 0 (bytes, rows). */
  count(name: string): number | undefined {
    return this.read(name, 'a whole number >= 0', (v): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
  }

  seconds(name: string): number | undefined {
    return this.read(name, 'a number of seconds >= 0', (v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0);
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const expected = values.map((v) => JSON.stringify(v)).join(', ');
    return this.read(name, `one of ${expected}`, (v): v is T => values.some((value) => value === v));
  }

  /** Required: 64 lowercase hex digits. */
  sha256(name: string): string {
    const value = this.read(name, '64 lowercase hex digits (a SHA-256)', (v): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v));
    if (value === undefined) throw this.problem(name, '64 lowercase hex digits (a SHA-256)', undefined);
    return value;
  }

  private read<T>(name: string, expected: string, ok: (v: unknown) => v is T): T | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null) return undefined;
    if (!ok(value)) throw this.problem(name, expected, value);
    return value;
  }

  private problem(name: string, expected: string, value: unknown) {
    return invalidArgument(`${this.method}: param "${name}" must be ${expected}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  }
}
