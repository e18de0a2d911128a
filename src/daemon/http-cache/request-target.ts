// What a request on the http_cache listener names: bazel-remote's layout,
// `[/<instance>]/ac/<sha256>` or `[/<instance>]/cas/<sha256>`. The instance
// is every segment before the last two (Bazel appends /ac/... and /cas/... to
// the path of --remote_cache=http://host:port/<instance>). Anything else is
// refused with a message naming the path, before any store is asked.
import { HttpError } from './http-status.js';

export type Namespace = 'ac' | 'cas';

export interface RequestTarget {
  readonly instance: string;
  readonly namespace: Namespace;
  /** 64 lowercase hex digits. */
  readonly hash: string;
}

const HASH_RE = /^[0-9a-f]{64}$/;
/** Longest path we look at; a real one is well under 200 bytes. */
const MAX_PATH_LENGTH = 2048;

const badPath = (path: string, why: string) =>
  new HttpError(400, `${JSON.stringify(path)}: ${why}; expected /ac/<sha256> or /cas/<sha256>, optionally after /<instance>`);

/** What Bazel sends: plain segments, no escapes, no query. Anything else takes the checked path below. */
const COMMON_RE = /^\/(?:([A-Za-z0-9_\-/]+)\/)?(ac|cas)\/([0-9a-f]{64})$/;

/** The target of a request URL (path and optional query; the query is ignored). */
export function parseRequestTarget(url: string): RequestTarget {
  const common = COMMON_RE.exec(url);
  const prefix = common?.[1];
  // An instance made of plain segments: none empty, none "." or ".." (dots are not in the class).
  if (common && (prefix === undefined || (!prefix.startsWith('/') && !prefix.endsWith('/') && !prefix.includes('//')))) {
    return { instance: prefix ?? '', namespace: common[2] === 'ac' ? 'ac' : 'cas', hash: common[3]! };
  }
  return parseCarefully(url);
}

function parseCarefully(url: string): RequestTarget {
  const raw = url.length > MAX_PATH_LENGTH ? `${url.slice(0, 64)}...` : url;
  if (url.length > MAX_PATH_LENGTH) throw badPath(raw, `longer than ${MAX_PATH_LENGTH} characters`);
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (!path.startsWith('/')) throw badPath(raw, 'not an absolute path');
  let segments: string[];
  try {
    segments = path.slice(1).split('/').map(decodeURIComponent);
  } catch {
    throw badPath(raw, 'contains a malformed %-escape');
  }
  if (segments.some((s) => s === '.' || s === '..')) throw badPath(raw, 'contains a "." or ".." segment');
  if (segments.some((s) => s === '')) throw badPath(raw, 'contains an empty segment');
  if (segments.some((s) => s.includes('/') || s.includes('\0'))) throw badPath(raw, 'contains an escaped "/" or a NUL');
  const hash = segments.pop();
  const namespace = segments.pop();
  if (hash === undefined || (namespace !== 'ac' && namespace !== 'cas')) throw badPath(raw, 'names neither ac nor cas');
  if (!HASH_RE.test(hash)) {
    throw badPath(raw, `${JSON.stringify(hash.slice(0, 80))} is not a SHA-256 hash (64 lowercase hex digits, got ${hash.length} characters)`);
  }
  return { instance: segments.join('/'), namespace, hash };
}
