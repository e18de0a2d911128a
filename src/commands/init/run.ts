// `ncache init`: write the default local config where ncache looks for it.
// (`ncache init --aws` is in init-aws.ts and shares the helpers below.)
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { defaultConfigPath, defaultConfigText } from '../../config/defaults.js';
import { failedPrecondition } from '../../util/errors.js';

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

/** The absolute config path init writes: --path, else the default config location. */
export function initTargetPath(path: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(path ?? defaultConfigPath(env));
}

/** Throws unless every path is free or `force` is set; returns whether any existed. */
export function checkOverwrite(paths: string[], force: boolean): boolean {
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0 && !force) {
    const what = existing.length === 1 ? `${existing[0]} already exists` : `${existing.join(' and ')} already exist`;
    throw failedPrecondition(`${what}; pass --force to overwrite, or --path to write elsewhere`);
  }
  return existing.length > 0;
}

/** Writes beside the target and renames, so an interrupted init never leaves half a file. */
export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temp, text, { mode });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export async function init(opts: InitOptions): Promise<InitResult> {
  const path = initTargetPath(opts.path, opts.env ?? process.env);
  const replaced = checkOverwrite([path], opts.force);
  await writeFileAtomic(path, defaultConfigText());
  return { path, replaced };
}
