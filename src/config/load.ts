// Loading a config: JSON5 text -> ${VAR} expansion -> validation -> the
// normalized NcacheConfig, or one ConfigError listing every problem.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import JSON5 from 'json5';
import { configEnv } from './dirs.js';
import { expandEnvTree } from './env-expand.js';
import { ConfigError } from './errors.js';
import { MAX_CONFIG_DEPTH, tooDeepPath } from './nesting.js';
import type { ReadContext } from './reader.js';
import { readConfig } from './schema.js';
import type { NcacheConfig } from './types.js';

/**
 * Parses and validates config text. `source` names it in messages; when it is
 * a file path, relative paths inside the config resolve against its directory
 * (sources like "<built-in default>" resolve against the working directory).
 */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): NcacheConfig {
  let raw: unknown;
  try {
    raw = JSON5.parse(text);
  } catch (err) {
    throw syntaxError(err, source);
  }
  const deep = tooDeepPath(raw);
  if (deep !== undefined) {
    throw new ConfigError(source, [{ path: deep, message: `nested more than ${MAX_CONFIG_DEPTH} levels deep; no ncache config needs that many` }]);
  }
  const baseDir = source.startsWith('<') ? process.cwd() : dirname(resolve(source));
  const ctx: ReadContext = { issues: [], env: configEnv(env), baseDir, refs: [] };
  const expanded = expandEnvTree(ctx, raw, '');
  const config = readConfig(ctx, expanded, source);
  if (ctx.issues.length > 0 || config === undefined) throw new ConfigError(source, ctx.issues);
  return config;
}

export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<NcacheConfig> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new ConfigError(absolute, [{ path: absolute, message: `cannot read config file: ${why}` }]);
  }
  return parseConfigText(text, absolute, env);
}

/** JSON5 reports "JSON5: invalid character 'x' at 3:5"; we report "<file>:3:5: invalid character 'x'". */
function syntaxError(err: unknown, source: string): ConfigError {
  const e = err as { message?: string; lineNumber?: number; columnNumber?: number };
  const message = String(e.message ?? err)
    .replace(/^JSON5:\s*/, '')
    .replace(/\s+at \d+:\d+$/, '');
  const where = e.lineNumber !== undefined ? `${source}:${e.lineNumber}:${e.columnNumber ?? 0}` : source;
  return new ConfigError(source, [{ path: where, message: `JSON5 syntax error: ${message}` }]);
}
