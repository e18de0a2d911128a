// Finds an action's process group when the daemon never learned its pid.
// The spawner reports a command's pid just after starting it; if the
// spawner dies in between (killed, out of memory), the command runs on as
// an orphan in its own session and nothing would stop it. Every action's
// stdout and stderr are new files the spawner created for it alone, so a
// process holding one of them as fd 1 or 2 belongs to that action. Linux
// only (/proc); elsewhere nothing is found. Used only after such a loss,
// so a scan of every process is affordable.
import { readFile, readdir, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mapConcurrent } from '../util/concurrency.js';
import { killProcessGroup } from './process-group.js';

const SCAN_CONCURRENCY = 16;

/** The process group of `pid` (field 5 of /proc/<pid>/stat), or undefined if it is gone. */
async function processGroupOf(pid: string): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: count from its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const group = Number(fields[2]);
  return Number.isInteger(group) && group > 1 ? group : undefined;
}

/** Process groups with a process whose stdout or stderr is one of `paths`. */
export async function groupsWritingTo(paths: readonly string[]): Promise<number[]> {
  const wanted = new Set<string>();
  for (const path of paths) {
    const absolute = resolve(path);
    wanted.add(absolute);
    // What /proc shows once the file has been unlinked.
    wanted.add(`${absolute} (deleted)`);
  }
  const pids = await readdir('/proc').then(
    (names) => names.filter((name) => /^[0-9]+$/.test(name)),
    () => [] as string[],
  );
  const own = await processGroupOf(String(process.pid));
  const groups = new Set<number>();
  await mapConcurrent(pids, SCAN_CONCURRENCY, async (pid) => {
    for (const fd of ['1', '2']) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
      if (target === undefined || !wanted.has(target)) continue;
      const group = await processGroupOf(pid);
      if (group !== undefined && group !== own) groups.add(group);
      return;
    }
  });
  return [...groups];
}

/** SIGKILLs every process group writing to one of `paths`; returns the groups killed. */
export async function killGroupsWritingTo(paths: readonly string[]): Promise<number[]> {
  return (await groupsWritingTo(paths)).filter(killProcessGroup);
}
