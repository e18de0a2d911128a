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
    .option('--memory-tier <size>', 'with --aws: in-memory local tiers of this size each (e.g. 100mb) instead of directories under the cache dir')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  ncache init && ncache serve\n  ncache init --aws --bucket team-cache --region eu-central-1 --prefix prod/ && ncache serve\n  ncache init --aws --bucket team-cache --region eu-central-1 --memory-tier 100mb',
    )
    .action(async (opts: InitCliOptions, command: Command) => {
      if (opts.aws) return initAwsCommand(opts, command);
      const s3Only = (['bucket', 'region', 'prefix', 'endpoint', 'insecureAllowHttp', 'memoryTier'] as const).filter((k) => opts[k] !== undefined);
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

  program
    .command('start')
    .description('start the daemon in the background and wait until it answers (does nothing if one is running)')
    .option('--config <file>', 'config file (default: your config file if present, else the built-in default)')
    .option('--timeout <seconds>', 'how long to wait for the daemon to answer', '60')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache start && bazel build --remote_cache=grpc://127.0.0.1:50051 //...\n  ncache start --config ~/team-cache.json5 --json')
    .action(async (opts: { config?: string; timeout: string; json?: boolean }, command: Command) => {
      const timeoutMs = secondsOption(opts.timeout, '--timeout', command);
      const { start } = await import('./commands/start.js');
      const result = await start({ configPath: opts.config, timeoutMs });
      if (opts.json) return printJson(result);
      const lines = result.cleaned.map((path) => `removed ${path} (left by a daemon that is gone)`);
      const where = result.addresses.join(', ');
      if (result.status === 'already-running') {
        lines.push(`ncache is already running (pid ${result.pid}) on ${where}`);
        const { resolve } = await import('node:path');
        if (opts.config !== undefined && resolve(opts.config) !== result.configSource) {
          process.stderr.write(`warning: it runs with ${result.configSource}, not ${resolve(opts.config)}; restart it to switch: ncache stop && ncache start --config ${opts.config}\n`);
        }
      } else {
        lines.push(`ncache started (pid ${result.pid}) on ${where}`, `config: ${result.configSource}`, `log: ${result.logFile}`);
      }
      lines.push('Add to .bazelrc:', ...result.bazelrcLines.map((line) => `  ${line}`));
      process.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('stop')
    .description('stop the background daemon: in-flight requests finish and owed uploads are flushed first (no daemon: nothing to do)')
    .option('--force', 'do not wait for in-flight requests or owed uploads (they stay journaled); kill it if it outlives --timeout')
    .option('--timeout <seconds>', 'how long to wait for the daemon to exit', '60')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache stop\n  ncache stop --force --timeout 5')
    .action(async (opts: { force?: boolean; timeout: string; json?: boolean }, command: Command) => {
      const timeoutMs = secondsOption(opts.timeout, '--timeout', command);
      const { stop } = await import('./commands/stop.js');
      // Only a person at a terminal needs telling why it waits; piped output stays the result alone.
      const live = process.stderr.isTTY && !process.env.CI;
      const onWaiting = (pid: number) =>
        process.stderr.write(`stopping ncache (pid ${pid})${opts.force ? '' : ': finishing in-flight requests and owed uploads'}...\n`);
      const result = await stop({ force: opts.force === true, timeoutMs, ...(live ? { onWaiting } : {}) });
      if (opts.json) return printJson(result);
      const lines = result.cleaned.map((path) => `removed ${path} (left by a daemon that is gone)`);
      if (result.status === 'not-running') lines.push('no ncache daemon is running; nothing to stop');
      else lines.push(`ncache stopped (pid ${result.pid}${result.killed ? ', killed after the timeout' : ''})`);
      process.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('status')
    .description('show the running daemon: pid, uptime, version, config, addresses, tiers with used/max bytes, upload backlog')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache status\n  ncache status --json | jq .uploadBacklog')
    .action(async (opts: { json?: boolean }) => {
      const { status } = await import('./commands/status.js');
      const result = await status();
      if (opts.json) return printJson(result);
      const { formatStatus } = await import('./commands/status-view.js');
      process.stdout.write(formatStatus(result));
    });

  program
    .command('stats')
    .description('show the daemon\'s numbers: requests and hit rate per service, bytes and blobs per tier, dedup and compression ratios, S3 requests, upload backlog, latency percentiles, uptime')
    .option('--watch', 'refresh every interval: a live view on a terminal, a plain text block per interval when piped or with CI set')
    .option('--interval <seconds>', 'with --watch: seconds between refreshes', '2')
    .option('--json', 'print one JSON document (with --watch: one per line per interval)')
    .addHelpText(
      'after',
      '\nExample:\n  ncache stats\n  ncache stats --watch --interval 1\n  ncache stats --json | jq .requests.services.ac.hitRate',
    )
    .action(async (opts: { watch?: boolean; interval: string; json?: boolean }, command: Command) => {
      const intervalMs = secondsOption(opts.interval, '--interval', command);
      const { stats, watchStats } = await import('./commands/stats.js');
      const { buildStatsModel, renderStatsText } = await import('./commands/stats-model.js');
      if (!opts.watch) {
        const result = await stats();
        if (opts.json) return printJson(result);
        return void process.stdout.write(renderStatsText(buildStatsModel(result)));
      }
      if (!opts.json && process.stdout.isTTY && !process.env.CI && !inkSeesCi(process.env)) {
        await stats(); // no daemon: the usual error and exit 1, before drawing anything
        const { runStatsView } = await import('./commands/stats-view.js');
        return runStatsView({ intervalMs, fetch: () => stats(), noColor: noColorWanted() });
      }
      // Piped: line-based output until Ctrl-C / SIGTERM, which end it normally.
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      let previous;
      for await (const result of watchStats(intervalMs, stop.signal)) {
        process.stdout.write(opts.json ? JSON.stringify(result) + '\n' : renderStatsText(buildStatsModel(result, previous)) + '\n');
        previous = result;
      }
    });

  program
    .command('ls')
    .description('list what the cache holds: digest, size (logical and stored), tiers holding it, last access, chunk count of deduplicated blobs')
    .option('--cas', 'only CAS blobs')
    .option('--ac', 'only action cache entries')
    .option('--sort <key>', 'size (largest first), atime (most recently used first) or name (by hash)', 'name')
    .option('--limit <n>', 'at most N entries, after sorting')
    .option('--json', 'print {"entries": [...], "total": N}')
    .addHelpText('after', '\nExample:\n  ncache ls --sort size --limit 20\n  ncache ls --ac --json | jq -r \'.entries[].digest\'')
    .action(async (opts: { cas?: boolean; ac?: boolean; sort: string; limit?: string; json?: boolean }, command: Command) => {
      if (opts.cas && opts.ac) command.error('error: --cas and --ac exclude each other; give neither to list both');
      if (!['size', 'atime', 'name'].includes(opts.sort)) {
        command.error(`error: --sort must be size, atime or name, got ${JSON.stringify(opts.sort)}`);
      }
      if (opts.limit !== undefined && !/^\d{1,9}$/.test(opts.limit)) {
        command.error(`error: --limit must be a whole number, got ${JSON.stringify(opts.limit)}`);
      }
      const { ls } = await import('./commands/ls.js');
      const result = await ls({
        type: opts.cas ? 'cas' : opts.ac ? 'ac' : undefined,
        sort: opts.sort as 'size' | 'atime' | 'name',
        limit: opts.limit === undefined ? undefined : Number(opts.limit),
      });
      if (opts.json) return printJson({ entries: result.entries, total: result.total });
      const { formatLsTable } = await import('./commands/ls-view.js');
      process.stdout.write(formatLsTable(result.entries, Date.now()));
      if (result.total > result.count) process.stderr.write(`(${result.count} of ${result.total} entries shown; --limit)\n`);
    });

  program
    .command('get')
    .description('write one blob (with --ac: an action result) to stdout or a file; --decode prints REAPI messages as JSON')
    .argument('<digest>', '<hash> or <hash>/<size> (the size is looked up when left out)')
    .option('-o, --output <file>', 'write to FILE (complete, or not at all) instead of stdout')
    .option('--ac', 'look the digest up in the action cache (an Action digest): its ActionResult')
    .option('--decode', 'print the message as JSON: ActionResult with --ac, else --type or a guess among Action, Command, Directory, Tree')
    .option('--type <type>', 'with --decode: action, command, directory, tree or actionresult')
    .option('--instance <name>', 'the REAPI instance name', '')
    .addHelpText(
      'after',
      '\nExample:\n  ncache get 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae/3 -o foo.txt\n' +
        '  ncache get --ac --decode <action-hash>\n  ncache get <hash> --decode --type command',
    )
    .action(
      async (
        text: string,
        opts: { output?: string; ac?: boolean; decode?: boolean; type?: string; instance: string },
        command: Command,
      ) => {
        const { get, parseBlobArgument, BlobArgumentError, PipeClosedError } = await import('./commands/get.js');
        const { DECODE_TYPES, MESSAGE_NAMES } = await import('./commands/decode.js');
        let blob;
        try {
          blob = parseBlobArgument(text);
        } catch (err) {
          if (err instanceof BlobArgumentError) command.error(`error: ${err.message}`);
          throw err;
        }
        if (opts.type !== undefined && !opts.decode) command.error('error: --type applies only with --decode');
        if (opts.type !== undefined && !(DECODE_TYPES as readonly string[]).includes(opts.type)) {
          command.error(`error: --type must be one of ${DECODE_TYPES.join(', ')}, got ${JSON.stringify(opts.type)}`);
        }
        if (opts.decode && opts.output !== undefined) command.error('error: --decode prints JSON to stdout; it does not combine with -o');
        // Ctrl-C hangs up cleanly, so a file being written is removed rather than left as a temp.
        const interrupted = new AbortController();
        process.once('SIGINT', () => interrupted.abort());
        process.once('SIGTERM', () => interrupted.abort());
        let outcome;
        try {
          outcome = await get({
            blob,
            ac: opts.ac === true,
            instance: opts.instance,
            output: opts.output,
            decode: opts.decode === true,
            type: opts.type as (typeof DECODE_TYPES)[number] | undefined,
            signal: interrupted.signal,
          });
        } catch (err) {
          // `ncache get ... | head`: the reader has what it wanted; nothing to say.
          if (err instanceof PipeClosedError) throw new SilentFailure();
          throw err;
        }
        if (outcome.decoded !== undefined) {
          if (outcome.decoded.guessed) {
            process.stderr.write(`ncache: decoded as ${MESSAGE_NAMES[outcome.decoded.type]} (a guess; pass --type to choose)\n`);
          }
          return printJson(outcome.decoded.message);
        }
        if (opts.output !== undefined) {
          process.stderr.write(`wrote ${outcome.result.size} bytes (${outcome.result.digest}) to ${opts.output}\n`);
        }
      },
    );

  program
    .command('gc')
    .description(
      'free space in the local tiers: evict least recently used entries down to a target and/or idle ones, remove orphaned ' +
        'dedup chunks, stray temp files and index rows of vanished files, compact the catalog. Never deletes from S3, ' +
        'never removes what an in-flight request or an owed upload needs',
    )
    .option('--target-size <size>', 'evict least recently used entries until the local tiers hold at most SIZE (10gb, 500MiB, bytes)')
    .option('--older-than <duration>', 'evict entries not used for DURATION (7d, 12h, 1h30m, seconds)')
    .option('--dry-run', 'report what would be freed without changing anything')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  ncache gc --target-size 20gb\n  ncache gc --older-than 7d --dry-run\n  ncache gc --target-size 5gb --json | jq .freed.bytes',
    )
    .action(async (opts: { targetSize?: string; olderThan?: string; dryRun?: boolean; json?: boolean }, command: Command) => {
      const { parseSize } = await import('./util/sizes.js');
      const { parseDuration } = await import('./util/durations.js');
      const flagValue = <T>(flag: string, text: string | undefined, parse: (t: string) => T): T | undefined => {
        if (text === undefined) return undefined;
        try {
          return parse(text);
        } catch (err) {
          return command.error(`error: ${flag}: ${errorMessage(err)}`);
        }
      };
      const targetBytes = flagValue('--target-size', opts.targetSize, parseSize);
      const olderThanSeconds = flagValue('--older-than', opts.olderThan, parseDuration);
      const { gc } = await import('./commands/gc.js');
      const report = await withProgress('gc', (onProgress) =>
        gc({ targetBytes, olderThanSeconds, dryRun: opts.dryRun === true, onProgress }),
      );
      if (opts.json) return printJson(report);
      const { formatGcReport } = await import('./commands/maintenance-view.js');
      process.stdout.write(formatGcReport(report, { color: colorWanted() }));
    });

  program
    .command('verify')
    .description(
      're-hash every blob (streaming SHA-256) of the fast (local) and/or slow (S3) tiers, decode action results and dedup ' +
        'index entries, and report corrupt and missing ones; exit 1 when anything was found and not repaired',
    )
    .option('--tier <tier>', 'fast (memory and filesystem tiers), slow (S3) or all', 'all')
    .option('--repair', 'restore a bad copy from another tier holding a good one, else evict it so clients upload it again')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  ncache verify\n  ncache verify --tier fast --repair\n  ncache verify --json | jq -r \'.problems[].digest\'',
    )
    .action(async (opts: { tier: string; repair?: boolean; json?: boolean }, command: Command) => {
      if (!['fast', 'slow', 'all'].includes(opts.tier)) {
        command.error(`error: --tier must be fast, slow or all, got ${JSON.stringify(opts.tier)}`);
      }
      const { verify } = await import('./commands/verify.js');
      const report = await withProgress('verify', (onProgress) =>
        verify({ tier: opts.tier as 'fast' | 'slow' | 'all', repair: opts.repair === true, onProgress }),
      );
      if (opts.json) printJson(report);
      else {
        const { formatVerifyReport } = await import('./commands/maintenance-view.js');
        process.stdout.write(formatVerifyReport(report, { color: colorWanted() }));
      }
      if (report.unrepaired > 0) throw new SilentFailure();
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

/** A positive number of seconds from an option, as milliseconds; anything else is a usage error (exit 2). */
function secondsOption(text: string, flag: string, command: Command): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) command.error(`error: ${flag} must be a positive number of seconds, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

/** Runs a daemon job, showing its progress frames on stderr (a bar on a terminal, plain lines otherwise). */
async function withProgress<T>(
  command: string,
  run: (onProgress: (p: import('./daemon/control/protocol.js').ProgressUpdate) => void) => Promise<T>,
): Promise<T> {
  const { progressDisplay, liveProgressWanted } = await import('./commands/progress-display.js');
  const display = await progressDisplay(command, { live: liveProgressWanted() });
  try {
    return await run((p) => display.update(p));
  } finally {
    display.stop();
  }
}

/** Colour in reports: only on a terminal, and never with NO_COLOR. */
function colorWanted(): boolean {
  return process.stdout.isTTY === true && !noColorWanted();
}

/**
 * ink decides by itself (package is-in-ci) that it runs in CI, and then draws
 * only the last frame: a CI variable set at all (even empty), CONTINUOUS_INTEGRATION
 * or any CI_* variable. A live view needs ink to agree, so we ask the same.
 */
function inkSeesCi(env: NodeJS.ProcessEnv): boolean {
  if (env.CI === '0' || env.CI === 'false') return false;
  return 'CI' in env || 'CONTINUOUS_INTEGRATION' in env || Object.keys(env).some((k) => k.startsWith('CI_'));
}

/** NO_COLOR (https://no-color.org): set and not empty means no ANSI colour. */
function noColorWanted(): boolean {
  const v = process.env.NO_COLOR;
  return v !== undefined && v !== '';
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
