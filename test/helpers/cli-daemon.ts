// A daemon for CLI tests: the BUILT bin/ncache.js `serve` in a child process
// with its own temp dir holding the config, the stores (NCACHE_TEST_DIR), the
// state dir (catalog, pid file, log) and a short XDG_RUNTIME_DIR for the
// control socket; plus run() to drive any command against it the way a user
// does. Build first: `npx tsc -p tsconfig.json` (npm test does).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonProcess, repoRoot, testConfigText } from './daemon-process.js';

export interface CliRun {
  code: number;
  stdout: string;
  /** stdout as bytes (for `get`, whose output is blob content). */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Extra environment for this run only (e.g. { CI: '1' } or { NO_COLOR: '1' }). */
  env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  cwd?: string;
}

export interface CliDaemonOptions {
  /**
   * The config (JSON5). It may use ${NCACHE_TEST_DIR} for its store paths. Default:
   * testConfigText(): filesystem CAS behind verify, filesystem AC behind completeness_checking.
   */
  configText?: string;
  /** Extra environment for the daemon and every run. */
  env?: NodeJS.ProcessEnv;
}

export interface CliDaemon {
  /** The temp dir holding everything below. */
  readonly dir: string;
  /** Environment every run gets over process.env (state dir, runtime dir, config and cache dirs). */
  readonly env: NodeJS.ProcessEnv;
  readonly stateDir: string;
  readonly configPath: string;
  /** Where the default config keeps its stores: `${dir}/data`. */
  readonly dataDir: string;
  readonly daemon: DaemonProcess;
  /** "127.0.0.1:PORT" of the gRPC listener. */
  readonly address: string;
  run(args: string[], opts?: RunOptions): Promise<CliRun>;
  /** Stops the daemon (SIGTERM, if still running) and removes the temp dir. */
  stop(): Promise<void>;
}

const root = repoRoot();

/** The environment of a test daemon rooted at `dir` (exported for tests that run `ncache start` themselves). */
export function cliTestEnv(dir: string): NodeJS.ProcessEnv {
  return {
    NCACHE_TEST_DIR: dir,
    NCACHE_STATE_DIR: join(dir, 'state'),
    // Short: a Unix socket path must fit in 108 bytes.
    XDG_RUNTIME_DIR: join(dir, 'rt'),
    // Keep the user's own config and cache out of every run.
    XDG_CONFIG_HOME: join(dir, 'xdg-config'),
    XDG_CACHE_HOME: join(dir, 'xdg-cache'),
    NCACHE_CACHE_DIR: join(dir, 'cache'),
  };
}

/** A fresh temp dir with a short path (/tmp/nc-XXXXXX). */
export function shortTempDir(): Promise<string> {
  return mkdtemp('/tmp/nc-');
}

export async function startCliDaemon(opts: CliDaemonOptions = {}): Promise<CliDaemon> {
  const dir = await shortTempDir();
  try {
    const dataDir = join(dir, 'data');
    await mkdir(dataDir, { recursive: true });
    await mkdir(join(dir, 'rt'), { recursive: true, mode: 0o700 });
    const configPath = join(dir, 'config.json5');
    await writeFile(configPath, opts.configText ?? testConfigText({ dataDir }));
    const env = { ...cliTestEnv(dir), ...opts.env };
    const daemon = await DaemonProcess.start({ configPath, env });
    const run = (args: string[], runOpts: RunOptions = {}) => runNcache(args, { ...runOpts, env: { ...env, ...runOpts.env } });
    return {
      dir,
      env,
      stateDir: env.NCACHE_STATE_DIR!,
      configPath,
      dataDir,
      daemon,
      address: daemon.address,
      run,
      async stop() {
        await daemon.stop({ timeoutMs: 20_000 });
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Runs the built CLI with `env` over process.env; resolves with its exit code and output (never rejects on exit != 0). */
export function runNcache(args: string[], opts: RunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'ncache.js'), ...args], {
      cwd: opts.cwd ?? root,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code: code ?? (signal !== null ? 128 : 1),
        stdout: stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(opts.input ?? '');
  });
}
