// Memory and CPU time of another process, from /proc (Linux only).
import { readFile, writeFile } from 'node:fs/promises';

export interface ProcessMemory {
  /** Current resident set size, bytes. */
  rss: number;
  /** Peak resident set size since the process started or resetPeakMemory ("high water mark"), bytes. */
  hwm: number;
}

export async function processMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name} line`);
    return Number(match[1]) * 1024;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/**
 * Starts a new peak (VmHWM) from the current RSS, so a peak read later is the
 * peak since now (Linux 4.0+, writing "5" to clear_refs). False where that is
 * not allowed (another user's process): the peak then counts from the start.
 */
export async function resetPeakMemory(pid: number): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
}

// Kernel clock ticks per second for /proc/<pid>/stat times; 100 on every Linux we run on.
const CLOCK_TICKS = 100;

/** User and kernel CPU seconds from the text of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file. */
export function statCpuSeconds(stat: string): { user: number; kernel: number } {
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS, kernel: Number(fields[12]) / CLOCK_TICKS };
}

/** User + system CPU seconds the process has used so far (all its threads). */
export async function processCpuSeconds(pid: number): Promise<number> {
  const { user, kernel } = statCpuSeconds(await readFile(`/proc/${pid}/stat`, 'utf8'));
  return user + kernel;
}
