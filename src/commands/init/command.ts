// `ncache init [--aws ...]` from the command line: checks the flags, writes
// the files (run.ts, aws.ts) and prints the outcome (view.ts).
import { ReportedFailure, UsageError } from '../exit.js';
import { printJson } from '../output.js';
import type { AwsInitOptions } from './aws.js';
import { parseHttpPort } from './http-cache.js';
import { initRemote } from './remote.js';
import { init } from './run.js';
import { formatAwsCheckFailure, formatAwsInit, formatAwsNextStep, formatExecution, formatInit, formatRemoteInit, formatTeamBazelrc } from './view.js';

/** What commander hands the init action: the --aws options plus the flags only the CLI reads. */
export type InitFlags = Omit<AwsInitOptions, 'force' | 'env' | 'exec'> & {
  force?: boolean;
  aws?: boolean;
  exec?: boolean;
  json?: boolean;
  http?: string;
  /** --remote URL and the flags only it reads. */
  remote?: string;
  instance?: string;
  tokenFile?: string;
};

const AWS_ONLY = ['bucket', 'region', 'prefix', 'endpoint', 'insecureAllowHttp', 'memoryTier', 'listen'] as const;

export async function initCommand(flags: InitFlags): Promise<void> {
  if (flags.remote !== undefined) return initRemoteCommand(flags, flags.remote);
  const remoteOnly = (['instance', 'tokenFile'] as const).filter((k) => flags[k] !== undefined);
  if (remoteOnly.length > 0) throw new UsageError(`${remoteOnly.map(optionFlag).join(', ')} ${remoteOnly.length === 1 ? 'applies' : 'apply'} only with --remote`);
  if ((flags.aws || flags.exec) && flags.http !== undefined) {
    throw new UsageError('--http applies only to the local config, without --aws or --exec (add an http_cache server to that config by hand: docs/configuration.md)');
  }
  if (flags.aws) return initAwsCommand(flags);
  const s3Only = AWS_ONLY.filter((k) => flags[k] !== undefined);
  if (s3Only.length > 0 || flags.check === false) {
    const given = [...s3Only.map(optionFlag), ...(flags.check === false ? ['--no-check'] : [])];
    throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only with --aws`);
  }
  const httpPort = flags.http === undefined ? undefined : parseHttpPort(flags.http);
  const result = await init({ path: flags.path, force: flags.force === true, exec: flags.exec === true, ...(httpPort === undefined ? {} : { httpPort }) });
  if (flags.json) return printJson(result);
  process.stdout.write(formatInit(result));
}

/** `--insecureAllowHttp` -> `--insecure-allow-http`. */
function optionFlag(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `ncache init --remote URL`: a local tier in front of a cluster, which runs the actions. */
async function initRemoteCommand(flags: InitFlags, remote: string): Promise<void> {
  const others = [...(flags.aws ? ['--aws'] : []), ...(flags.exec ? ['--exec'] : []), ...(flags.http !== undefined ? ['--http'] : [])];
  const s3Only = AWS_ONLY.filter((k) => flags[k] !== undefined).map(optionFlag);
  if (flags.check === false) s3Only.push('--no-check');
  if (others.length > 0 || s3Only.length > 0) {
    throw new UsageError(`--remote writes its own layout (local tiers in front of the cluster, which runs the actions): ${[...others, ...s3Only].join(', ')} cannot be combined with it`);
  }
  const result = await initRemote({ remote, instance: flags.instance, tokenFile: flags.tokenFile, path: flags.path, force: flags.force === true });
  if (flags.json) return printJson(result);
  process.stdout.write(formatRemoteInit(result));
}

/** `ncache init --aws`: bad arguments exit 2; a failed bucket check exits 1 after the files are written. */
async function initAwsCommand(flags: InitFlags): Promise<void> {
  // Only --aws needs the S3 client (and the AWS SDK behind it).
  const { initAws } = await import('./aws.js');
  const { result, teamBazelrc } = await initAws({ ...flags, force: flags.force === true, check: flags.check, exec: flags.exec === true });
  if (flags.json) {
    printJson(result);
    if (!result.ok) throw new ReportedFailure();
    return;
  }
  process.stdout.write(formatAwsInit(result));
  if (teamBazelrc !== null) process.stdout.write(formatTeamBazelrc(result, teamBazelrc));
  if (!result.ok) {
    process.stderr.write(formatAwsCheckFailure(result));
    throw new ReportedFailure();
  }
  if (result.execution !== undefined) process.stdout.write(formatExecution(result.execution));
  process.stdout.write(formatAwsNextStep(result, flags.path !== undefined));
}
