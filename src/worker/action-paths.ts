// Checks on the names and paths an action gives the worker: input names
// (single path segments), output paths and the working directory (relative
// paths that stay inside the input root). A bad one is INVALID_ARGUMENT
// naming it, before anything touches the disk.
import { invalidArgument } from '../util/errors.js';

/** One name in a Directory message: a single segment, not "." or "..". */
export function checkEntryName(name: string, where: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw invalidArgument(`input tree: ${where} has an entry named ${JSON.stringify(name)}; names must be single path segments`);
  }
}

/**
 * A path relative to the input root (or the working directory): no leading
 * or trailing slash, no empty, "." or ".." segments. `allowEmpty` for the
 * working directory, where "" means the input root itself.
 */
export function checkRelativePath(path: string, what: string, allowEmpty = false): string[] {
  if (path === '' && allowEmpty) return [];
  const segments = path.split('/');
  const bad = path === '' || path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) {
    const why = path.startsWith('/') ? 'it is absolute' : path.split('/').includes('..') ? 'it contains ".."' : 'it must be a relative path of non-empty segments';
    throw invalidArgument(`${what} ${JSON.stringify(path)} is not allowed: ${why}`);
  }
  return segments;
}

/** Orders names by their UTF-8 bytes, as REAPI sorts Directory entries. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Whether names are strictly ascending by UTF-8 bytes (sorted, no repeats). */
export function strictlySorted(names: readonly string[]): boolean {
  for (let i = 1; i < names.length; i++) if (compareNames(names[i - 1]!, names[i]!) >= 0) return false;
  return true;
}
