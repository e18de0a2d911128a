// `ncache init [--exec | --http PORT]`: write the default local config (with --exec, one
// that also runs actions: templates/exec.json5; with --http, one that also serves Bazel's
// HTTP cache protocol: http-cache.ts) where ncache looks for it.
// (`ncache init --aws` is in aws.ts and shares the helpers below.)
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { bazelrcLines } from '../../config/bazelrc.js';
import { defaultConfigPath, defaultConfigText } from '../../config/defaults.js';
import { parseConfigText } from '../../config/load.js';
import type { NcacheConfig } from '../../config/types.js';
import { failedPrecondition, internal } from '../../util/errors.js';
import { templatesDir } from '../../util/paths.js';
import { fillExecPlaceholders, thisMachine } from './exec.js';
import { withHttpCacheServer } from './http-cache.js';

export interface InitOptions {
  path?: string;
  force: boolean;
  /** Also run actions: a scheduler, a local worker and the execution service. */
  exec?: boolean;
  /** Also serve Bazel's HTTP cache protocol on 127.0.0.1:httpPort (init --http). */
  httpPort?: number;
  env?: NodeJS.ProcessEnv;
}

export interface InitResult {
  path: string;
  /** True when a file was already there and --force replaced it. */
  replaced: boolean;
  /** With --exec: what runs actions and the .bazelrc lines that use it. */
  execution?: ExecutionInit;
}

/** What `init --exec` set up, as written in the config. */
export interface ExecutionInit {
  scheduler: string;
  /** The worker's name. */
  worker: string;
  /** Where actions run (absolute, as the config expands it now). */
  workDirectory: string;
  /** The worker's worker_api_endpoint.uri. */
  workerApiEndpoint: string;
  /** The platform properties the worker offers. */
  platformProperties: Record<string, string[]>;
  /** Lines for .bazelrc: --remote_executor (and the cache) at the config's listener. */
  bazelrcLines: string[];
}

/** Reads an init --exec config back: what runs the actions, and the .bazelrc lines for its listener. */
export function executionInit(config: NcacheConfig): ExecutionInit {
  const scheduler = config.schedulers[0];
  const worker = config.workers[0];
  if (scheduler === undefined || worker === undefined) throw internal(`${config.source}: init --exec wrote no scheduler or no worker`);
  return {
    scheduler: scheduler.name,
    worker: worker.name ?? 'workers[0]',
    workDirectory: worker.work_directory,
    workerApiEndpoint: worker.worker_api_endpoint.uri,
    platformProperties: Object.fromEntries(Object.entries(worker.platform_properties).map(([k, v]) => [k, v.values])),
    bazelrcLines: bazelrcLines(config, config.servers.map((s) => s.listener.http.socket_address)),
  };
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

/** templates/exec.json5 with the worker's properties read from this machine. */
export function renderExecConfig(): string {
  const text = readFileSync(join(templatesDir(), 'exec.json5'), 'utf8');
  return fillExecPlaceholders(text, thisMachine(), 'shared-with-cas');
}

export async function init(opts: InitOptions): Promise<InitResult> {
  const env = opts.env ?? process.env;
  const path = initTargetPath(opts.path, env);
  const replaced = checkOverwrite([path], opts.force);
  if (!opts.exec) {
    await writeFileAtomic(path, opts.httpPort === undefined ? defaultConfigText() : withHttpCacheServer(defaultConfigText(), opts.httpPort));
    return { path, replaced };
  }
  const text = renderExecConfig();
  // A template bug must fail here, not when the daemon starts.
  const config = parseConfigText(text, path, env);
  await writeFileAtomic(path, text);
  return { path, replaced, execution: executionInit(config) };
}
