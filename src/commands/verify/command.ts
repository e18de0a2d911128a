// `ncache verify` from the command line: exit 1 when anything was found and not repaired.
import type { VerifyTier } from '../../maintenance/verify.js';
import { ReportedFailure, UsageError } from '../exit.js';
import { colorWanted, printJson } from '../output.js';
import { withProgress } from '../progress-display.js';
import { verify } from './run.js';
import { formatVerifyReport } from './view.js';

const TIERS: readonly VerifyTier[] = ['fast', 'slow', 'all'];

export async function verifyCommand(flags: { tier: string; repair?: boolean; json?: boolean }): Promise<void> {
  const tier = TIERS.find((t) => t === flags.tier);
  if (tier === undefined) throw new UsageError(`--tier must be fast, slow or all, got ${JSON.stringify(flags.tier)}`);
  const report = await withProgress('verify', (onProgress) => verify({ tier, repair: flags.repair === true, onProgress }));
  if (flags.json) printJson(report);
  else process.stdout.write(formatVerifyReport(report, { color: colorWanted() }));
  if (report.unrepaired > 0) throw new ReportedFailure();
}
