// Where ncache keeps its cache and looks for its config, following the XDG
// base-directory rules: $XDG_CACHE_HOME / $XDG_CONFIG_HOME when set to an
// absolute path, else ~/.cache and ~/.config.
import { isAbsolute, join } from 'node:path';
import { homeDir } from './reader.js';

function xdgDir(env: NodeJS.ProcessEnv, variable: string, fallback: string): string {
  const value = env[variable];
  // The XDG spec says relative values are invalid and must be ignored.
  if (value !== undefined && value !== '' && isAbsolute(value)) return value;
  return join(homeDir(env), fallback);
}

/** $XDG_CACHE_HOME/ncache or ~/.cache/ncache. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(xdgDir(env, 'XDG_CACHE_HOME', '.cache'), 'ncache');
}

/** $XDG_CONFIG_HOME/ncache/config.json5 or ~/.config/ncache/config.json5. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(xdgDir(env, 'XDG_CONFIG_HOME', '.config'), 'ncache', 'config.json5');
}

/**
 * The environment config files are expanded with: the caller's, plus
 * NCACHE_CACHE_DIR (when unset) so configs, the template among them, can say
 * "${NCACHE_CACHE_DIR}/cas" and land in the user's cache directory.
 */
export function configEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.NCACHE_CACHE_DIR !== undefined && env.NCACHE_CACHE_DIR !== '') return env;
  return { ...env, NCACHE_CACHE_DIR: defaultCacheDir(env) };
}
