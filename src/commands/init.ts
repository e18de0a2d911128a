// `ncache init`: write the default local config where ncache looks for it.
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { defaultConfigPath, defaultConfigText } from '../config/defaults.js';
import { failedPrecondition } from '../util/errors.js';

export interface InitOptions {
  path?: string;
  force: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface InitResult {
  path: string;
  /** True when a file was already there and --force replaced it. */
  replaced: boolean;
}

export async function init(opts: InitOptions): Promise<InitResult> {
  const path = resolve(opts.path ?? defaultConfigPath(opts.env ?? process.env));
  const exists = existsSync(path);
  if (exists && !opts.force) {
    throw failedPrecondition(`${path} already exists; pass --force to overwrite it, or --path to write elsewhere`);
  }
  await mkdir(dirname(path), { recursive: true });
  // Write beside the target and rename, so an interrupted init never leaves half a config.
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, defaultConfigText(), { mode: 0o644 });
  await rename(temp, path);
  return { path, replaced: exists };
}
