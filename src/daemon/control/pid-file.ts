// `<stateDir>/daemon.pid`: which process serves this state directory, and on
// which control socket. Written atomically (temp + rename) once the daemon
// answers; removed when it stops. A crashed daemon leaves it behind:
// `ncache start` checks whether that process still exists before trusting it.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

export interface PidFileContent {
  pid: number;
  socketPath: string;
  /** ISO time the daemon started. */
  startedAt: string;
  /** grpc://HOST:PORT per listener. */
  addresses: string[];
}

export function writePidFile(path: string, content: PidFileContent): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(content) + '\n', { mode: 0o600 });
  renameSync(temp, path);
}

/** The pid file's content, or undefined when there is none or it is unreadable (a torn write cannot happen: rename). */
export function readPidFile(path: string): PidFileContent | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<PidFileContent>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return undefined;
    return {
      pid: v.pid,
      socketPath: typeof v.socketPath === 'string' ? v.socketPath : '',
      startedAt: typeof v.startedAt === 'string' ? v.startedAt : '',
      addresses: Array.isArray(v.addresses) ? v.addresses.filter((a): a is string => typeof a === 'string') : [],
    };
  } catch {
    return undefined;
  }
}

/** Removes the pid file if it still names `pid` (a newer daemon's file is left alone). */
export function removePidFile(path: string, pid: number): void {
  const current = readPidFile(path);
  if (current !== undefined && current.pid !== pid) return;
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** True when a process with this pid exists (ours or another user's). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
