// Which config a command uses: an explicit --config path, else the user's
// config file if it exists, else the built-in default.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { builtInDefaultConfig, defaultConfigPath } from '../config/defaults.js';
import { loadConfigFile } from '../config/load.js';
import type { NcacheConfig } from '../config/types.js';

export async function resolveConfig(
  explicitPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<NcacheConfig> {
  if (explicitPath !== undefined) return loadConfigFile(resolve(explicitPath), env);
  const userPath = defaultConfigPath(env);
  if (existsSync(userPath)) return loadConfigFile(userPath, env);
  return builtInDefaultConfig(env);
}
