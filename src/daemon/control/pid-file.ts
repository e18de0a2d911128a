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
  /** grpc://HOST:PORT (grpcs:// for a TLS listener) per listener. */
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

/**
 * True when a process with this pid is alive (ours or another user's). A
 * zombie counts as gone: a detached daemon whose parent exited may wait for a
 * reaper that never comes (PID 1 in some containers), yet it has stopped.
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state ...", comm may hold spaces or parens.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc (macOS): trust kill(0)
  }
}

/**
 * True when `pid` is alive and looks like an ncache process. After a crash and
 * a reboot the pid in a stale file may belong to something else entirely;
 * where /proc is missing we can only trust that the pid exists.
 */
export function ncacheProcessAlive(pid: number): boolean {
  if (!processExists(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ncache');
  } catch {
    return true;
  }
}
