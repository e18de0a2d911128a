// `ncache start` from the command line.
import { printJson } from '../output.js';
import { secondsFlag } from '../seconds-flag.js';
import { start } from './run.js';
import { configMismatchWarning, formatStart } from './view.js';

export async function startCommand(flags: { config?: string; timeout: string; json?: boolean }): Promise<void> {
  const timeoutMs = secondsFlag(flags.timeout, '--timeout');
  const result = await start({ configPath: flags.config, timeoutMs });
  if (flags.json) return printJson(result);
  const warning = configMismatchWarning(result, flags.config);
  if (warning !== undefined) process.stderr.write(warning);
  process.stdout.write(formatStart(result));
}
