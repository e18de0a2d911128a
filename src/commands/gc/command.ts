// `ncache gc` from the command line.
import { parseDuration } from '../../util/durations.js';
import { errorMessage } from '../../util/errors.js';
import { parseSize } from '../../util/sizes.js';
import { UsageError } from '../exit.js';
import { colorWanted, printJson } from '../output.js';
import { withProgress } from '../progress-display.js';
import { gc } from './run.js';
import { formatGcReport } from './view.js';

export interface GcFlags {
  targetSize?: string;
  olderThan?: string;
  dryRun?: boolean;
  json?: boolean;
}

export async function gcCommand(flags: GcFlags): Promise<void> {
  const targetBytes = flagValue('--target-size', flags.targetSize, parseSize);
  const olderThanSeconds = flagValue('--older-than', flags.olderThan, parseDuration);
  const report = await withProgress('gc', (onProgress) => gc({ targetBytes, olderThanSeconds, dryRun: flags.dryRun === true, onProgress }));
  if (flags.json) return printJson(report);
  process.stdout.write(formatGcReport(report, { color: colorWanted() }));
}

function flagValue<T>(flag: string, text: string | undefined, parse: (t: string) => T): T | undefined {
  if (text === undefined) return undefined;
  try {
    return parse(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${errorMessage(err)}`);
  }
}
