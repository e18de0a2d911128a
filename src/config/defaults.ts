// The configuration ncache runs with when the user has none: the template in
// templates/local.json5, so `ncache init` writes exactly what runs by default.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { templatesDir } from '../util/paths.js';
import { parseConfigText } from './load.js';
import type { NcacheConfig } from './types.js';

export { defaultCacheDir, defaultConfigPath } from './dirs.js';

export const BUILT_IN_SOURCE = '<built-in default>';

/** Path of the default config template shipped with ncache. */
export function defaultTemplatePath(): string {
  return join(templatesDir(), 'local.json5');
}

/** The template text, as `ncache init` writes it (paths say ${NCACHE_CACHE_DIR}). */
export function defaultConfigText(): string {
  return readFileSync(defaultTemplatePath(), 'utf8');
}

/**
 * The built-in default: a filesystem CAS (verified) and AC (completeness
 * checked) under defaultCacheDir(env), served on 127.0.0.1:50051 for
 * instance "".
 */
export function builtInDefaultConfig(env: NodeJS.ProcessEnv = process.env): NcacheConfig {
  return parseConfigText(defaultConfigText(), BUILT_IN_SOURCE, env);
}
