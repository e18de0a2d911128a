// A config nested deeper than any real one is refused before anything walks
// it: ${VAR} expansion and the schema readers recurse, and JSON5 parses
// 100,000 nested brackets happily, so a garbled file would otherwise end in a
// stack overflow instead of a ConfigError.
import { isPlainObject, joinIndex, joinKey } from './reader.js';

/** Real configs nest about 15 levels (verify > dedup > fast_slow > S3 > retry); this leaves room for far more. */
export const MAX_CONFIG_DEPTH = 64;

/** The path of a value nested deeper than MAX_CONFIG_DEPTH, or undefined. Walks with its own stack, so it cannot overflow. */
export function tooDeepPath(root: unknown): string | undefined {
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, path, depth } = next;
    if (depth > MAX_CONFIG_DEPTH) return path;
    if (Array.isArray(value)) {
      value.forEach((v: unknown, i) => pending.push({ value: v, path: joinIndex(path, i), depth: depth + 1 }));
    } else if (isPlainObject(value)) {
      for (const [k, v] of Object.entries(value)) pending.push({ value: v, path: joinKey(path, k), depth: depth + 1 });
    }
  }
  return undefined;
}
