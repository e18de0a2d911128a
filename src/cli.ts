// The command table. Each command lives in src/commands/<name>.ts, is imported
// only when run (so `ncache --help` stays fast), returns data, and is printed
// here. This is the only file that decides exit codes or calls process.exit.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NcacheError, errorMessage } from './util/errors.js';
import { packageRoot } from './util/paths.js';
// Types only (erased at runtime): commands stay lazily imported.
import type { AwsInitOptions } from './commands/init-aws.js';

/** Exit codes, documented in README.md. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function printJson(data: unknown): void {
  process.stdout.write(JSON.stringify(data, null, 2) + '\n');
}

function buildProgram(): Command {
  const program = new Command('ncache')
    .description('A local REAPI v2 build cache for Bazel, shared through S3')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('init')
    .description('write a config file: a local cache (the built-in default), or with --aws a local tier in front of an S3 bucket')
    .option('--path <file>', 'where to write it (default: $XDG_CONFIG_HOME/ncache/config.json5)')
    .option('--force', 'overwrite existing files')
    .option('--aws', 'share the cache through an S3 bucket (needs --bucket and --region)')
    .option('--bucket <name>', 'with --aws: the S3 bucket')
    .option('--region <region>', 'with --aws: the bucket\'s region, e.g. eu-central-1')
    .option('--prefix <prefix>', 'with --aws: key prefix for every object (default: "ncache/"; "" for none)')
    .option('--endpoint <url>', 'with --aws: an S3-compatible endpoint (MinIO, Ceph, R2) instead of AWS')
    .option('--insecure-allow-http', 'with --aws: allow an http:// --endpoint on another machine')
    .option('--no-check', 'with --aws: do not probe the bucket (put, get, list, delete of a small object)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  ncache init && ncache serve\n  ncache init --aws --bucket team-cache --region eu-central-1 --prefix prod/ && ncache serve',
    )
    .action(async (opts: InitCliOptions, command: Command) => {
      if (opts.aws) return initAwsCommand(opts, command);
      const s3Only = (['bucket', 'region', 'prefix', 'endpoint', 'insecureAllowHttp'] as const).filter((k) => opts[k] !== undefined);
      if (s3Only.length > 0 || opts.check === false) {
        const flags = [...s3Only.map(optionFlag), ...(opts.check === false ? ['--no-check'] : [])];
        command.error(`error: ${flags.join(', ')} ${flags.length === 1 ? 'applies' : 'apply'} only with --aws`);
      }
      const { init } = await import('./commands/init.js');
      const result = await init({ path: opts.path, force: opts.force === true });
      if (opts.json) return printJson(result);
      process.stdout.write(`${result.replaced ? 'Replaced' : 'Wrote'} ${result.path}\nStart the daemon with: ncache serve --config ${result.path}\n`);
    });

  program
    .command('validate')
    .description('check a config file and print a one-line summary (every problem is listed with its field path)')
    .argument('[file]', 'config file (default: your config file, else the built-in default)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache validate ~/.config/ncache/config.json5')
    .action(async (file: string | undefined, opts: { json?: boolean }) => {
      const { validate } = await import('./commands/validate.js');
      const { ConfigError } = await import('./config/errors.js');
      let result;
      try {
        result = await validate({ path: file });
      } catch (err) {
        // With --json, problems are data on stdout (still exit 1); otherwise reportError prints them.
        if (!(opts.json && err instanceof ConfigError)) throw err;
        printJson({ ok: false, source: err.source, issues: err.issues });
        throw new SilentFailure();
      }
      if (opts.json) return printJson({ ok: true, ...result });
      process.stdout.write(`ok: ${result.source}: ${result.summary}\n`);
      for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
    });

  program
    .command('serve')
    .description('run the daemon in the foreground until Ctrl-C / SIGTERM')
    .option('--config <file>', 'config file (default: your config file if present, else the built-in default)')
    .addHelpText('after', '\nExample:\n  ncache serve\n  bazel build --remote_cache=grpc://127.0.0.1:50051 //...')
    .action(async (opts: { config?: string }) => {
      const { serve } = await import('./commands/serve.js');
      const running = await serve({ configPath: opts.config });
      stopOnSignals(running.stop);
      for (const warning of running.warnings) process.stderr.write(`warning: ${warning}\n`);
      // One write, so a reader that waits for the first line also has the rest.
      process.stdout.write(
        [
          ...running.addresses.map((address) => `ncache listening on grpc://${address}`),
          `config: ${running.configSource}`,
          'Add to .bazelrc:',
          ...running.bazelrcLines.map((line) => `  ${line}`),
        ].join('\n') + '\n',
      );
      await running.stopped;
      process.stdout.write('ncache stopped\n');
    });

  return program;
}

/** What commander hands the init action: the --aws options plus the flags only the CLI reads. */
type InitCliOptions = Omit<AwsInitOptions, 'force' | 'env'> & { force?: boolean; aws?: boolean; json?: boolean };

function optionFlag(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `ncache init --aws`: bad arguments exit 2; a failed bucket check exits 1 after the files are written. */
async function initAwsCommand(opts: InitCliOptions, command: Command): Promise<void> {
  const { initAws, AwsInitUsageError } = await import('./commands/init-aws.js');
  let result;
  try {
    result = await initAws({ ...opts, force: opts.force === true, check: opts.check });
  } catch (err) {
    if (err instanceof AwsInitUsageError) command.error(err.problems.map((p) => `error: ${p}`).join('\n'));
    throw err;
  }
  if (opts.json) {
    printJson(result);
    if (!result.ok) throw new SilentFailure();
    return;
  }
  const { s3, check } = result;
  const lines = [
    `${result.replaced ? 'Replaced' : 'Wrote'} ${result.path}`,
    `  S3 bucket ${s3.bucket}, region ${s3.region}, prefix "${s3.prefix}"${s3.endpoint !== null ? `, endpoint ${s3.endpoint}` : ''}`,
    `IAM policy the credentials need on the bucket: ${result.iamPolicyPath}`,
    `Lifecycle rules you can apply to the bucket: ${result.lifecyclePath}`,
    `  aws s3api put-bucket-lifecycle-configuration --bucket ${s3.bucket} --lifecycle-configuration file://${result.lifecyclePath}` +
      (s3.endpoint !== null ? ` --endpoint-url ${s3.endpoint}` : ''),
  ];
  if (check !== null) {
    lines.push(`Checked s3://${s3.bucket}/${s3.prefix} at ${check.endpoint}:`);
    for (const step of check.steps) {
      lines.push(`  ${step.status.padEnd(7)} ${step.operation.padEnd(13)} ${step.message ?? ''}`.trimEnd());
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (check !== null && !check.ok) {
    const missing = check.steps.flatMap((s) => (s.missingPermission !== undefined ? [s.missingPermission] : []));
    const problems = check.steps.filter((s) => s.status === 'failed').map((s) => `  ${s.operation}: ${s.message}`);
    process.stderr.write(
      [
        `ncache: the bucket check failed; the config was written anyway (${result.path}):`,
        ...problems,
        ...(missing.length > 0 ? [`  missing IAM permissions: ${missing.join(', ')} (see ${result.iamPolicyPath})`] : []),
        ...(check.leftBehind ? [`  the probe object s3://${s3.bucket}/${check.key} could not be deleted; remove it by hand`] : []),
        'Fix the above, then check again with the same command plus --force.',
      ].join('\n') + '\n',
    );
    throw new SilentFailure();
  }
  const serve = opts.path === undefined ? 'ncache serve' : `ncache serve --config ${result.path}`;
  process.stdout.write(`${check === null ? 'Bucket not checked (--no-check). ' : ''}Start the daemon with: ${serve}\n`);
}

/** A failure whose details were already printed: exit 1 without another message. */
class SilentFailure extends Error {}

/** First SIGINT/SIGTERM: graceful stop (in-flight writes finish). Second: leave at once. */
function stopOnSignals(stop: () => Promise<void>): void {
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received += 1;
    if (received > 1) {
      process.stderr.write(`ncache: second ${signal}, exiting without waiting\n`);
      process.exit(130);
    }
    process.stderr.write(`ncache: ${signal} received, finishing in-flight requests (again to force)\n`);
    stop().catch((err: unknown) => process.stderr.write(`ncache: stop failed: ${errorMessage(err)}\n`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Prints an error the way a user should see it and returns the exit code. */
function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and --version arrive here too, with exit code 0.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (err instanceof SilentFailure) return EXIT_FAILED;
  if (err instanceof NcacheError) {
    process.stderr.write(`ncache: ${err.message}\n`);
    return EXIT_FAILED;
  }
  process.stderr.write(`ncache: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)}\n`);
  return EXIT_FAILED;
}

export async function main(argv: string[]): Promise<void> {
  let code = EXIT_OK;
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    code = reportError(err);
  }
  // Flush stdout/stderr before leaving; pending handles (a stopped daemon) must not keep us alive.
  process.exitCode = code;
  if (code !== EXIT_OK) process.exit(code);
}
