// `ncache status` from the command line.
import { printJson } from '../output.js';
import { status } from './run.js';
import { formatStatus } from './view.js';

export async function statusCommand(flags: { json?: boolean }): Promise<void> {
  const result = await status();
  if (flags.json) return printJson(result);
  process.stdout.write(formatStatus(result));
}
