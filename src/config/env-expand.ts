// ${VAR} and ${VAR:-default} in config strings, expanded before validation so
// "${CACHE_SIZE:-10gb}" can feed a size field. Only the braced forms are
// recognized: a bare "$" stays literal, so S3 key prefixes and the like never
// change meaning by accident.
import { INVALID, issue, joinIndex, joinKey, isPlainObject, type ReadContext } from './reader.js';

const REF_RE = /\$\{([^}]*)\}/g;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Returns a copy of `value` with every string expanded. A string that cannot
 * be expanded (unset variable without a default, malformed reference) is
 * reported at its path and replaced by INVALID so later checks skip it.
 */
export function expandEnvTree(ctx: ReadContext, value: unknown, path: string): unknown {
  if (typeof value === 'string') return expandString(ctx, value, path);
  if (Array.isArray(value)) return value.map((v, i) => expandEnvTree(ctx, v, joinIndex(path, i)));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnvTree(ctx, v, joinKey(path, k));
    return out;
  }
  return value;
}

export function expandString(ctx: ReadContext, text: string, path: string): string | typeof INVALID {
  if (!text.includes('${')) return text;
  let failed = false;
  const expanded = text.replace(REF_RE, (whole, body: string) => {
    const sep = body.indexOf(':-');
    const name = sep >= 0 ? body.slice(0, sep) : body;
    if (!NAME_RE.test(name)) {
      failed = true;
      issue(ctx, path, `malformed variable reference ${whole} (use \${NAME} or \${NAME:-default})`);
      return whole;
    }
    const current = ctx.env[name];
    if (sep >= 0) {
      // Shell semantics for ":-": an empty variable also takes the default.
      return current !== undefined && current !== '' ? current : body.slice(sep + 2);
    }
    if (current === undefined) {
      failed = true;
      issue(ctx, path, `environment variable ${name} is not set (referenced as ${whole}; use \${${name}:-default} for a fallback)`);
      return whole;
    }
    return current;
  });
  if (failed) return INVALID;
  // Anything left that still opens "${" was never closed.
  const unclosed = text.replace(REF_RE, '').includes('${');
  if (unclosed) {
    issue(ctx, path, `unterminated variable reference in ${JSON.stringify(text)} (missing "}")`);
    return INVALID;
  }
  return expanded;
}
