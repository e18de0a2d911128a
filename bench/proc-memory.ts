// Resident memory of another process, from /proc/<pid>/status (Linux only).
import { readFile } from 'node:fs/promises';

export interface ProcessMemory {
  /** Current resident set size, bytes. */
  rss: number;
  /** Peak resident set size since the process started ("high water mark"), bytes. */
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
