// `ncache ls` from the command line.
import type { LsSort } from '../../daemon/control/ls.js';
import { UsageError } from '../exit.js';
import { printJson } from '../output.js';
import { ls } from './run.js';
import { formatLsTable } from './view.js';

export interface LsFlags {
  cas?: boolean;
  ac?: boolean;
  sort: string;
  limit?: string;
  json?: boolean;
}

const SORTS: readonly LsSort[] = ['size', 'atime', 'name'];

export async function lsCommand(flags: LsFlags): Promise<void> {
  if (flags.cas && flags.ac) throw new UsageError('--cas and --ac exclude each other; give neither to list both');
  const sort = SORTS.find((s) => s === flags.sort);
  if (sort === undefined) throw new UsageError(`--sort must be size, atime or name, got ${JSON.stringify(flags.sort)}`);
  if (flags.limit !== undefined && !/^\d{1,9}$/.test(flags.limit)) {
    throw new UsageError(`--limit must be a whole number, got ${JSON.stringify(flags.limit)}`);
  }
  const result = await ls({
    type: flags.cas ? 'cas' : flags.ac ? 'ac' : undefined,
    sort,
    limit: flags.limit === undefined ? undefined : Number(flags.limit),
  });
  if (flags.json) return printJson({ entries: result.entries, total: result.total });
  process.stdout.write(formatLsTable(result.entries, Date.now()));
  if (result.total > result.count) process.stderr.write(`(${result.count} of ${result.total} entries shown; --limit)\n`);
}
