// `ncache start`: runs `ncache serve` in the background (detached, its output
// appended to the log file) and returns once the daemon answers on its
// control socket. Idempotent: a daemon already answering is reported, not
// doubled. A pid file or socket left by a crashed daemon is removed first.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { callMethod } from '../../daemon/control/client.js';
import { controlPaths } from '../../daemon/control/paths.js';
import type { StatusResult } from '../../daemon/control/status.js';
import { NcacheError, errorCode, errorMessage } from '../../util/errors.js';
import { packageRoot } from '../../util/paths.js';
import { resolveConfig } from '../config-source.js';
import { cleanStaleFiles, liveDaemonPid, waitUntil } from '../daemon-files.js';

export interface StartOptions {
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the daemon to answer. Default 60 s (a first start may index a large cache). */
  timeoutMs?: number;
}

export interface StartResult {
  /** "started": this call started it; "already-running": one was answering already. */
  status: 'started' | 'already-running';
  pid: number;
  /** grpc://HOST:PORT (grpcs:// for a TLS listener) per listener. */
  addresses: string[];
  configSource: string;
  socketPath: string;
  logFile: string;
  /** Lines to paste into .bazelrc (as `serve` prints them; the daemon computes them from its config). */
  bazelrcLines: string[];
  /** Prometheus scrape URLs (listeners with experimental_prometheus). */
  metricsUrls: string[];
  /** Files a crashed daemon left behind, removed before starting. */
  cleaned: string[];
}

export const DEFAULT_START_TIMEOUT_MS = 60_000;

/** Lines of the log shown when the daemon fails to start. */
const LOG_TAIL_LINES = 20;

/** A log past this size is moved to `daemon.log.1` (replacing the previous one) at the next start. */
export const MAX_LOG_BYTES = 10_000_000;

export async function start(opts: StartOptions = {}): Promise<StartResult> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const paths = controlPaths(env);

  const running = await askStatus(paths.socketPath, timeoutMs);
  if (running !== undefined) return resultOf('already-running', running, paths.logFile, []);

  const alive = liveDaemonPid(paths);
  if (alive !== undefined) {
    throw new NcacheError(
      'UNAVAILABLE',
      `an ncache daemon (pid ${alive}) is alive but does not answer on ${paths.socketPath}; it may be stopping. ` +
        `Wait for it to exit, or end it with: kill ${alive}`,
    );
  }
  const cleaned = await cleanStaleFiles(paths);

  // A config the daemon would refuse is reported here, directly, not through its log.
  const configPath = opts.configPath !== undefined ? resolve(opts.configPath) : undefined;
  await resolveConfig(configPath, env);

  mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
  rotateLog(paths.logFile);
  const logFd = openSync(paths.logFile, 'a', 0o600);
  const logStart = statSync(paths.logFile).size;
  let child;
  try {
    child = spawn(process.execPath, [join(packageRoot(), 'bin', 'ncache.js'), 'serve', ...(configPath ? ['--config', configPath] : [])], {
      // Its own session: closing this terminal or Ctrl-C here does not reach it.
      detached: true,
      stdio: ['ignore', logFd, logFd],
      // The same directory as this command, so relative paths in the environment mean the same to it.
      cwd: process.cwd(),
      env,
    });
  } finally {
    closeSync(logFd);
  }

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  child.once('exit', (code, signal) => (exit = { code, signal }));
  child.once('error', (err) => (spawnError = err));

  let status: StatusResult | undefined;
  const deadline = Date.now() + timeoutMs;
  const ready = await waitUntil(async () => {
    if (exit !== undefined || spawnError !== undefined) return true;
    // A daemon that is starting holds the call until it is ready.
    status = await askStatus(paths.socketPath, Math.max(1, deadline - Date.now()));
    // The socket of another daemon would not answer with our child's pid.
    return status !== undefined && status.pid === child.pid;
  }, timeoutMs);
  child.unref();

  if (spawnError !== undefined) throw new NcacheError('UNAVAILABLE', `cannot run the daemon: ${spawnError.message}`);
  if (exit !== undefined) {
    // Another `ncache start` may have won the race for this state dir: that is success.
    const winner = await askStatus(paths.socketPath, Math.max(1, deadline - Date.now()));
    if (winner !== undefined) return resultOf('already-running', winner, paths.logFile, cleaned);
    throw new NcacheError(
      'UNAVAILABLE',
      `the daemon exited during start (${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`}); ` +
        `the end of its log ${paths.logFile}:\n${logTail(paths.logFile, logStart)}`,
    );
  }
  if (!ready || status === undefined) {
    throw new NcacheError(
      'DEADLINE_EXCEEDED',
      `the daemon (pid ${child.pid}) did not answer within ${timeoutMs / 1000} s; it is still running, see its log ${paths.logFile}` +
        ` (stop it with \`ncache stop\`):\n${logTail(paths.logFile, logStart)}`,
    );
  }
  return resultOf('started', status, paths.logFile, cleaned);
}

/** The daemon's status, or undefined when none answers on the socket within `timeoutMs`. */
async function askStatus(socketPath: string, timeoutMs: number): Promise<StatusResult | undefined> {
  try {
    return await callMethod(socketPath, 'status', {}, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    if (errorCode(err) === 'UNAVAILABLE' || errorCode(err) === 'CANCELLED') return undefined;
    throw err;
  }
}

function resultOf(status: StartResult['status'], s: StatusResult, logFile: string, cleaned: string[]): StartResult {
  return {
    status,
    pid: s.pid,
    addresses: s.addresses,
    configSource: s.configSource,
    socketPath: s.socketPath,
    logFile,
    bazelrcLines: s.bazelrcLines,
    metricsUrls: s.metricsUrls ?? [],
    cleaned,
  };
}

/** Keeps the log bounded across restarts; no daemon writes to it while start runs. */
function rotateLog(logFile: string): void {
  try {
    if (statSync(logFile).size > MAX_LOG_BYTES) renameSync(logFile, `${logFile}.1`);
  } catch {
    // no log yet
  }
}

/** The last lines the daemon wrote to its log since `from`. */
function logTail(logFile: string, from: number): string {
  try {
    const text = readFileSync(logFile).subarray(from).toString('utf8');
    const lines = text.trimEnd().split('\n');
    return lines.slice(-LOG_TAIL_LINES).map((l) => `  ${l}`).join('\n') || '  (empty)';
  } catch (err) {
    return `  (cannot read it: ${errorMessage(err)})`;
  }
}
