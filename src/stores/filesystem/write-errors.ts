// What an upload to the filesystem store reports when a file operation or its
// catalog row fails. A full disk (or an exhausted quota) is RESOURCE_EXHAUSTED
// naming the directory or catalog and "disk full", so Bazel's error says what
// to fix instead of an INTERNAL error carrying a bare errno or SQLite code;
// anything else stays INTERNAL.
import { NcacheError, errorMessage, internal } from '../../util/errors.js';

const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** `what` names the upload ("filesystem store CAS: upload of <digest>"), `dir` where it was writing. */
export function uploadWriteError(what: string, dir: string, err: unknown): NcacheError {
  const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
  if (code !== undefined && OUT_OF_SPACE.has(code)) {
    return new NcacheError(
      'RESOURCE_EXHAUSTED',
      `${what} failed: disk full (${code}) writing to ${dir}: free space there or lower the store's eviction_policy.max_bytes`,
      { cause: err },
    );
  }
  return internal(`${what} failed: ${errorMessage(err)}`, err);
}

/** The upload's file is in place but the catalog (at `catalogPath`) could not record it. */
export function catalogWriteError(what: string, catalogPath: string, err: unknown): NcacheError {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_FULL')) {
    return new NcacheError(
      'RESOURCE_EXHAUSTED',
      `${what} failed: disk full (${code}): the catalog ${catalogPath} cannot record it; free space there`,
      { cause: err },
    );
  }
  return internal(`${what} failed: the catalog ${catalogPath} cannot record it: ${errorMessage(err)}`, err);
}
