// `ncache stop`: asks the daemon to stop through its control socket and waits
// for its process to exit. Idempotent: no daemon is not an error.
import { callMethod } from '../../daemon/control/client.js';
import { controlPaths } from '../../daemon/control/paths.js';
import { processExists } from '../../daemon/control/pid-file.js';
import { NcacheError, errorCode } from '../../util/errors.js';
import { cleanStaleFiles, liveDaemonPid, waitUntil } from '../daemon-files.js';

export interface StopOptions {
  env?: NodeJS.ProcessEnv;
  /** No grace for in-flight calls, no upload flush; SIGKILL if still alive at the timeout. */
  force?: boolean;
  /** How long to wait for the process to exit. Default 60 s (the daemon's grace + upload flush fit in it). */
  timeoutMs?: number;
  /** Called once the daemon has accepted the request and stop starts waiting for it to exit. */
  onWaiting?(pid: number): void;
}

export interface StopResult {
  /** "stopped": a daemon was running and has exited; "not-running": there was none. */
  status: 'stopped' | 'not-running';
  pid: number | null;
  force: boolean;
  /** --force only: the daemon outlived the timeout and was killed (SIGKILL). */
  killed: boolean;
  /** Files a crashed daemon left behind, removed. */
  cleaned: string[];
}

export const DEFAULT_STOP_TIMEOUT_MS = 60_000;

export async function stop(opts: StopOptions = {}): Promise<StopResult> {
  const env = opts.env ?? process.env;
  const force = opts.force === true;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const paths = controlPaths(env);

  let pid: number;
  try {
    pid = (await callMethod(paths.socketPath, 'shutdown', { force })).pid;
  } catch (err) {
    if (errorCode(err) !== 'UNAVAILABLE') throw err;
    const alive = liveDaemonPid(paths);
    if (alive === undefined) {
      // Nobody answers: nothing to stop, but a crash may have left files behind.
      return { status: 'not-running', pid: null, force, killed: false, cleaned: await cleanStaleFiles(paths) };
    }
    // Its process is alive but the socket is closed: it is already stopping; wait for it like for any stop.
    pid = alive;
  }

  opts.onWaiting?.(pid);
  const exited = await waitUntil(() => !processExists(pid), timeoutMs);
  if (exited) return { status: 'stopped', pid, force, killed: false, cleaned: [] };
  if (!force) {
    throw new NcacheError(
      'DEADLINE_EXCEEDED',
      `the daemon (pid ${pid}) is still stopping after ${timeoutMs / 1000} s (finishing requests or uploads owed to the slow tier); ` +
        'wait longer with --timeout, or skip that with `ncache stop --force`',
    );
  }
  process.kill(pid, 'SIGKILL');
  await waitUntil(() => !processExists(pid), 10_000);
  return { status: 'stopped', pid, force, killed: true, cleaned: await cleanStaleFiles(paths) };
}
