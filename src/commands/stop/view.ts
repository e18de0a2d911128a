// `ncache stop` for people: what it cleaned and the daemon it stopped; while
// waiting, a line on a terminal saying why it waits.
import { cleanedLines } from '../daemon-files.js';
import type { StopResult } from './run.js';

export function formatStop(result: StopResult): string {
  const lines = cleanedLines(result.cleaned);
  if (result.status === 'not-running') lines.push('no ncache daemon is running; nothing to stop');
  else lines.push(`ncache stopped (pid ${result.pid}${result.killed ? ', killed after the timeout' : ''})`);
  return lines.join('\n') + '\n';
}

export function waitingLine(pid: number, force: boolean): string {
  return `stopping ncache (pid ${pid})${force ? '' : ': finishing in-flight requests and owed uploads'}...\n`;
}
