// `ncache get --decode`: REAPI messages (Action, Command, Directory, Tree,
// ActionResult) as JSON. Blobs carry no type, so without --type the decoder
// tries each type in a fixed order and takes the first whose decoding is
// plausible (valid digests, sane names), and says it guessed.
import {
  type Action,
  ActionCodec,
  type ActionResult,
  ActionResultCodec,
  type Command,
  CommandCodec,
  type Directory,
  DirectoryCodec,
  type MessageCodec,
  type Tree,
  TreeCodec,
} from '../../proto/reapi.js';
import { invalidArgument } from '../../util/errors.js';

export const DECODE_TYPES = ['action', 'command', 'directory', 'tree', 'actionresult'] as const;
export type DecodeType = (typeof DECODE_TYPES)[number];

export const MESSAGE_NAMES: Record<DecodeType, string> = {
  action: 'Action',
  command: 'Command',
  directory: 'Directory',
  tree: 'Tree',
  actionresult: 'ActionResult',
};

export interface Decoded {
  readonly type: DecodeType;
  /** True when the type was guessed (no --type, not --ac). */
  readonly guessed: boolean;
  /** JSON-ready: camelCase fields, bytes as base64, empty lists and unset messages left out. */
  readonly message: unknown;
}

interface Candidate<T> {
  readonly codec: MessageCodec<T>;
  readonly plausible: (m: T) => boolean;
}

/** Pairs a codec with its plausibility check, erasing the message type for the table below. */
function candidate<T>(codec: MessageCodec<T>, plausible: (m: T) => boolean): Candidate<unknown> {
  return { codec, plausible: plausible as (m: unknown) => boolean };
}

const CANDIDATES: Record<DecodeType, Candidate<unknown>> = {
  action: candidate(ActionCodec, (m: Action) => validDigest(m.commandDigest) && validDigest(m.inputRootDigest)),
  command: candidate(
    CommandCodec,
    (m: Command) =>
      m.arguments.length > 0 && m.arguments.every(cleanText) && m.environmentVariables.every((e) => e.name !== '' && cleanText(e.name)),
  ),
  directory: candidate(DirectoryCodec, (m: Directory) => plausibleDirectory(m, true)),
  tree: candidate(
    TreeCodec,
    (m: Tree) => m.root !== null && plausibleDirectory(m.root, false) && m.children.every((c) => plausibleDirectory(c, false)),
  ),
  actionresult: candidate(
    ActionResultCodec,
    (m: ActionResult) =>
      m.outputFiles.every((f) => f.path !== '' && cleanText(f.path) && validDigest(f.digest)) &&
      m.outputDirectories.every((d) => d.path !== '' && cleanText(d.path)) &&
      (m.stdoutDigest === null || validDigest(m.stdoutDigest)) &&
      (m.stderrDigest === null || validDigest(m.stderrDigest)),
  ),
};

/**
 * Decodes `bytes` as `type`, or, without one, as the first plausible type in
 * DECODE_TYPES order. Throws INVALID_ARGUMENT naming what was tried.
 */
export function decodeMessage(bytes: Buffer, type: DecodeType | undefined, what: string): Decoded {
  if (type !== undefined) {
    let message: unknown;
    try {
      message = CANDIDATES[type].codec.decode(bytes);
    } catch (err) {
      throw invalidArgument(`${what} does not decode as a ${MESSAGE_NAMES[type]}: ${(err as Error).message}`);
    }
    return { type, guessed: false, message: toJson(message) };
  }
  if (bytes.length === 0) {
    throw invalidArgument(`${what} is empty: every message type decodes from it; pass --type to choose one`);
  }
  for (const t of DECODE_TYPES) {
    const c = CANDIDATES[t];
    let message: unknown;
    try {
      message = c.codec.decode(bytes);
    } catch {
      continue;
    }
    if (c.plausible(message)) return { type: t, guessed: true, message: toJson(message) };
  }
  throw invalidArgument(
    `${what} is not a plausible ${DECODE_TYPES.map((t) => MESSAGE_NAMES[t]).join(', ')}; pass --type to force one, or drop --decode for the raw bytes`,
  );
}

function validDigest(d: { hash: string; sizeBytes: number } | null): boolean {
  return d !== null && /^[0-9a-f]{64}$/.test(d.hash) && Number.isSafeInteger(d.sizeBytes) && d.sizeBytes >= 0;
}

/** No replacement characters (invalid UTF-8) and no control characters other than tab/newline. */
function cleanText(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\uFFFD\u0000-\u0008\u000B-\u001F]/.test(s);
}

function plausibleName(name: string): boolean {
  return name !== '' && !name.includes('/') && cleanText(name);
}

function plausibleDirectory(d: Directory, requireSomething: boolean): boolean {
  if (requireSomething && d.files.length + d.directories.length + d.symlinks.length === 0) return false;
  return (
    d.files.every((f) => plausibleName(f.name) && validDigest(f.digest)) &&
    d.directories.every((c) => plausibleName(c.name) && validDigest(c.digest)) &&
    d.symlinks.every((s) => plausibleName(s.name) && s.target !== '')
  );
}

/** Plain JSON: Buffers as base64 strings; null, empty lists and empty bytes left out. */
export function toJson(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue;
      if (Array.isArray(v) && v.length === 0) continue;
      if (Buffer.isBuffer(v) && v.length === 0) continue;
      out[k] = toJson(v);
    }
    return out;
  }
  return value;
}
