// The files a daemon leaves in its state dir and runtime dir, and the waiting
// start/stop do on a process or a socket.
import { existsSync, unlinkSync } from 'node:fs';
import type { ControlPaths } from '../daemon/control/paths.js';
import { ncacheProcessAlive, readPidFile } from '../daemon/control/pid-file.js';
import { socketAnswers } from '../daemon/control/server.js';

/**
 * The pid of another live ncache process that the pid file names (a daemon
 * that is running, starting or stopping), or undefined when there is none.
 */
export function liveDaemonPid(paths: Pick<ControlPaths, 'pidFile'>): number | undefined {
  const owner = readPidFile(paths.pidFile);
  return owner !== undefined && owner.pid !== process.pid && ncacheProcessAlive(owner.pid) ? owner.pid : undefined;
}

/**
 * Removes the pid file and control socket of a daemon that is gone (crashed,
 * killed): the pid file when its process is gone, the socket when nobody
 * accepts on it (a daemon that is starting has a socket but no pid file yet).
 * Returns what it removed.
 */
export async function cleanStaleFiles(paths: ControlPaths): Promise<string[]> {
  const removed: string[] = [];
  const owner = readPidFile(paths.pidFile);
  const ownerGone = owner === undefined || !ncacheProcessAlive(owner.pid);
  if (existsSync(paths.pidFile) && ownerGone) {
    if (tryUnlink(paths.pidFile)) removed.push(paths.pidFile);
  }
  if (existsSync(paths.socketPath) && ownerGone && !(await socketAnswers(paths.socketPath))) {
    if (tryUnlink(paths.socketPath)) removed.push(paths.socketPath);
  }
  return removed;
}

/** How start and stop report what cleanStaleFiles removed. */
export function cleanedLines(cleaned: readonly string[]): string[] {
  return cleaned.map((path) => `removed ${path} (left by a daemon that is gone)`);
}

function tryUnlink(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Polls `done` with a short, growing interval until it is true (resolves true) or `timeoutMs` passes (false). */
export async function waitUntil(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(delay * 2, 250);
  }
}
