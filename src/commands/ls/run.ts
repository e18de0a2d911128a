// `ncache ls`: what the daemon's CAS and action cache hold (the `ls` control
// method streams one item per entry, already sorted and limited by the daemon).
import type { LsParams } from '../../daemon/control/api.js';
import type { LsEntry, LsKind, LsResult, LsSort } from '../../daemon/control/ls.js';
import { connectToDaemon } from '../daemon-client.js';

export interface LsOptions {
  /** Only the CAS or only the action cache; default both. */
  type?: LsKind;
  sort?: LsSort;
  limit?: number;
  env?: NodeJS.ProcessEnv;
}

export interface LsOutput extends LsResult {
  readonly entries: LsEntry[];
}

export async function ls(opts: LsOptions = {}): Promise<LsOutput> {
  const client = await connectToDaemon(opts.env);
  const entries: LsEntry[] = [];
  const params: LsParams = { type: opts.type ?? 'all', sort: opts.sort ?? 'name', limit: opts.limit };
  const result = await client.call('ls', params, { onItem: (entry) => entries.push(entry) });
  return { ...result, entries };
}
