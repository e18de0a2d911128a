// `ncache stop` from the command line.
import { printJson } from '../output.js';
import { secondsFlag } from '../seconds-flag.js';
import { stop } from './run.js';
import { formatStop, waitingLine } from './view.js';

export async function stopCommand(flags: { force?: boolean; timeout: string; json?: boolean }): Promise<void> {
  const timeoutMs = secondsFlag(flags.timeout, '--timeout');
  const force = flags.force === true;
  // Only a person at a terminal needs telling why it waits; piped output stays the result alone.
  const live = process.stderr.isTTY && !process.env.CI;
  const onWaiting = (pid: number) => process.stderr.write(waitingLine(pid, force));
  const result = await stop({ force, timeoutMs, ...(live ? { onWaiting } : {}) });
  if (flags.json) return printJson(result);
  process.stdout.write(formatStop(result));
}
