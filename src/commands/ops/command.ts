// `ncache ops` from the command line.
import { UsageError } from '../exit.js';
import { printJson } from '../output.js';
import { ops } from './run.js';
import { formatOps } from './view.js';

export interface OpsFlags {
  stage: string;
  scheduler?: string;
  limit?: string;
  json?: boolean;
}

const STAGES = ['queued', 'executing', 'completed', 'all'] as const;

export async function opsCommand(flags: OpsFlags): Promise<void> {
  const stage = STAGES.find((s) => s === flags.stage);
  if (stage === undefined) throw new UsageError(`--stage must be queued, executing, completed or all, got ${JSON.stringify(flags.stage)}`);
  if (flags.limit !== undefined && !/^\d{1,9}$/.test(flags.limit)) {
    throw new UsageError(`--limit must be a whole number, got ${JSON.stringify(flags.limit)}`);
  }
  const result = await ops({ stage, scheduler: flags.scheduler, limit: flags.limit === undefined ? undefined : Number(flags.limit) });
  if (flags.json) return printJson(result);
  process.stdout.write(formatOps(result));
}
