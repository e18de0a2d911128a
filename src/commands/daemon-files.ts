// The files a daemon leaves in its state dir and runtime dir, and the waiting
// start/stop do on a process or a socket.
import { existsSync, unlinkSync } from 'node:fs';
import type { ControlPaths } from '../daemon/control/paths.js';
import { ncacheProcessAlive, processExists, readPidFile } from '../daemon/control/pid-file.js';

/**
 * Removes the pid file and control socket of a daemon that is gone (crashed,
 * killed). Call only once the socket has not answered. Returns what it removed.
 */
export function cleanStaleFiles(paths: ControlPaths): string[] {
  const removed: string[] = [];
  const owner = readPidFile(paths.pidFile);
  if (existsSync(paths.pidFile) && (owner === undefined || !ncacheProcessAlive(owner.pid))) {
    if (tryUnlink(paths.pidFile)) removed.push(paths.pidFile);
  }
  if (existsSync(paths.socketPath) && (owner === undefined || !ncacheProcessAlive(owner.pid))) {
    if (tryUnlink(paths.socketPath)) removed.push(paths.socketPath);
  }
  return removed;
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
