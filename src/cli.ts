// The command table. Each command lives in src/commands/<name>.ts, is imported
// only when run (so `ncache --help` stays fast), returns data, and is printed
// here. This is the only file that decides exit codes or calls process.exit.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NcacheError, errorMessage } from './util/errors.js';
import { packageRoot } from './util/paths.js';

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
    .description('write a config file for a local cache (the built-in default, ready to edit)')
    .option('--path <file>', 'where to write it (default: $XDG_CONFIG_HOME/ncache/config.json5)')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache init && ncache serve')
    .action(async (opts: { path?: string; force?: boolean; json?: boolean }) => {
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
