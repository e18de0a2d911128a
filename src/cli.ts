// The command table. Each command lives in src/commands/<name>/ (run.ts: the
// data, view.ts: how it looks, command.ts: its flags, run, then view) and is
// imported only when run, so `ncache --help` stays fast. This is the only file
// that turns errors into exit codes and calls process.exit.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, ReportedFailure, UsageError } from './commands/exit.js';
import { NcacheError, errorMessage } from './util/errors.js';
import { packageRoot } from './util/paths.js';
// Types only (erased at runtime): commands stay lazily imported.
import type { GcFlags } from './commands/gc/command.js';
import type { GetFlags } from './commands/get/command.js';
import type { InitFlags } from './commands/init/command.js';
import type { LsFlags } from './commands/ls/command.js';
import type { OpsFlags } from './commands/ops/command.js';

/** Printed after a usage error, by commander for its own and by reportError for a command's. */
const HELP_HINT = '(run with --help for usage)';

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function buildProgram(): Command {
  const program = new Command('ncache')
    .description('A local REAPI v2 build cache for Bazel, shared through S3')
    .version(version())
    .showHelpAfterError(HELP_HINT)
    .exitOverride();

  program
    .command('init')
    .description('write a config file: a local cache (the built-in default), with --exec one that also runs Bazel\'s actions, with --aws a local tier in front of an S3 bucket, or with --remote one in front of a remote build cluster')
    .option('--path <file>', 'where to write it (default: $XDG_CONFIG_HOME/ncache/config.json5)')
    .option('--force', 'overwrite existing files')
    .option('--aws', 'share the cache through an S3 bucket (needs --bucket and --region)')
    .option('--exec', 'also run Bazel\'s actions (remote execution on this machine): a scheduler, a local worker and the execution service; prints the .bazelrc lines')
    .option('--bucket <name>', 'with --aws: the S3 bucket')
    .option('--region <region>', 'with --aws: the bucket\'s region, e.g. eu-central-1')
    .option('--prefix <prefix>', 'with --aws: key prefix for every object (default: "ncache/"; "" for none)')
    .option('--endpoint <url>', 'with --aws: an S3-compatible endpoint (MinIO, Ceph, R2) instead of AWS')
    .option('--insecure-allow-http', 'with --aws: allow an http:// --endpoint on another machine')
    .option('--no-check', 'with --aws: do not probe the bucket (put, get, list, delete of a small object)')
    .option('--memory-tier <size>', 'with --aws: in-memory local tiers of this size each (e.g. 100mb) instead of directories under the cache dir')
    .option('--listen <host:port>', 'with --aws: listen there (e.g. 0.0.0.0:50051) with bearer-token auth; writes a tokens file beside the config and prints the .bazelrc lines')
    .option('--remote <url>', 'forward to a remote build cluster at grpc://HOST:PORT (or grpcs://): local tiers in front of its CAS and AC, actions run on it; prints the .bazelrc lines')
    .option('--instance <name>', 'with --remote: the cluster\'s instance name (default "")')
    .option('--token-file <file>', 'with --remote: a file holding the bearer token the cluster expects')
    .option('--http <port>', "also serve Bazel's HTTP cache protocol on 127.0.0.1:<port> (--remote_cache=http://...)")
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  ncache init && ncache serve\n  ncache init --exec && ncache start\n  ncache init --remote grpc://build-cluster.example.com:8980 --instance main && ncache start\n  ncache init --aws --bucket team-cache --region eu-central-1 --prefix prod/ && ncache serve\n  ncache init --aws --bucket team-cache --region eu-central-1 --memory-tier 100mb',
    )
    .action(async (flags: InitFlags) => (await import('./commands/init/command.js')).initCommand(flags));

  program
    .command('validate')
    .description('check a config file and print a one-line summary (every problem is listed with its field path)')
    .argument('[file]', 'config file (default: your config file, else the built-in default)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache validate ~/.config/ncache/config.json5')
    .action(async (file: string | undefined, flags: { json?: boolean }) =>
      (await import('./commands/validate/command.js')).validateCommand(file, flags),
    );

  program
    .command('serve')
    .description('run the daemon in the foreground until Ctrl-C / SIGTERM')
    .option('--config <file>', 'config file (default: your config file if present, else the built-in default)')
    .addHelpText('after', '\nExample:\n  ncache serve\n  bazel build --remote_cache=grpc://127.0.0.1:50051 //...')
    .action(async (flags: { config?: string }) => (await import('./commands/serve/command.js')).serveCommand(flags));

  program
    .command('start')
    .description('start the daemon in the background and wait until it answers (does nothing if one is running)')
    .option('--config <file>', 'config file (default: your config file if present, else the built-in default)')
    .option('--timeout <seconds>', 'how long to wait for the daemon to answer', '60')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache start && bazel build --remote_cache=grpc://127.0.0.1:50051 //...\n  ncache start --config ~/team-cache.json5 --json')
    .action(async (flags: { config?: string; timeout: string; json?: boolean }) =>
      (await import('./commands/start/command.js')).startCommand(flags),
    );

  program
    .command('stop')
    .description('stop the background daemon: in-flight requests finish and owed uploads are flushed first (no daemon: nothing to do)')
    .option('--force', 'do not wait for in-flight requests or owed uploads (they stay journaled); kill it if it outlives --timeout')
    .option('--timeout <seconds>', 'how long to wait for the daemon to exit', '60')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache stop\n  ncache stop --force --timeout 5')
    .action(async (flags: { force?: boolean; timeout: string; json?: boolean }) =>
      (await import('./commands/stop/command.js')).stopCommand(flags),
    );

  program
    .command('status')
    .description('show the running daemon: pid, uptime, version, config, addresses, tiers with used/max bytes, upload backlog, and remote execution\'s schedulers (queue) and workers (properties, slots, running actions)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ncache status\n  ncache status --json | jq .uploadBacklog')
    .action(async (flags: { json?: boolean }) => (await import('./commands/status/command.js')).statusCommand(flags));

  program
    .command('stats')
    .description('show the daemon\'s numbers: requests and hit rate per service, bytes and blobs per tier, dedup and compression ratios, S3 requests, upload backlog, latency percentiles, uptime, remote execution (actions queued/executing/completed/failed, queue wait and run time percentiles, Execute cache hits)')
    .option('--watch', 'refresh every interval: a live view on a terminal, a plain text block per interval when piped or with CI set')
    .option('--interval <seconds>', 'with --watch: seconds between refreshes', '2')
    .option('--json', 'print one JSON document (with --watch: one per line per interval)')
    .addHelpText(
      'after',
      '\nExample:\n  ncache stats\n  ncache stats --watch --interval 1\n  ncache stats --json | jq .requests.services.ac.hitRate',
    )
    .action(async (flags: { watch?: boolean; interval: string; json?: boolean }) =>
      (await import('./commands/stats/command.js')).statsCommand(flags),
    );

  program
    .command('ls')
    .description('list what the cache holds: digest, size (logical and stored), tiers holding it, last access, chunk count of deduplicated blobs')
    .option('--cas', 'only CAS blobs')
    .option('--ac', 'only action cache entries')
    .option('--sort <key>', 'size (largest first), atime (most recently used first) or name (by hash)', 'name')
    .option('--limit <n>', 'at most N entries, after sorting')
    .option('--json', 'print {"entries": [...], "total": N}')
    .addHelpText('after', '\nExample:\n  ncache ls --sort size --limit 20\n  ncache ls --ac --json | jq -r \'.entries[].digest\'')
    .action(async (flags: LsFlags) => (await import('./commands/ls/command.js')).lsCommand(flags));

  program
    .command('ops')
    .description('list remote execution\'s operations: queued, executing and recently completed actions with action digest, stage, worker, queue wait, run time and result')
    .option('--stage <stage>', 'queued, executing, completed or all', 'all')
    .option('--scheduler <name>', 'only this scheduler (default: all)')
    .option('--limit <n>', 'at most N operations (executing first, then queued, then the newest completed)')
    .option('--json', 'print {"operations": [...], "total": N, "schedulers": [...]}')
    .addHelpText('after', '\nExample:\n  ncache ops\n  ncache ops --stage executing --json | jq -r \'.operations[].actionDigest\'')
    .action(async (flags: OpsFlags) => (await import('./commands/ops/command.js')).opsCommand(flags));

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
    .action(async (digest: string, flags: GetFlags) => (await import('./commands/get/command.js')).getCommand(digest, flags));

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
    .action(async (flags: GcFlags) => (await import('./commands/gc/command.js')).gcCommand(flags));

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
    .action(async (flags: { tier: string; repair?: boolean; json?: boolean }) =>
      (await import('./commands/verify/command.js')).verifyCommand(flags),
    );

  return program;
}

/** Prints an error the way a user should see it and returns the exit code. */
function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and --version arrive here too, with exit code 0.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (err instanceof UsageError) {
    // As commander prints its own usage errors.
    process.stderr.write(err.problems.map((p) => `error: ${p}\n`).join('') + `${HELP_HINT}\n`);
    return err.exitCode;
  }
  if (err instanceof ReportedFailure) return err.exitCode;
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
