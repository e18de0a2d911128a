// `ncache status`: asks the running daemon who it is and how full its tiers are.
import type { StatusResult } from '../daemon/control/status.js';
import { connectToDaemon } from './daemon-client.js';

export type { StatusResult };

export interface StatusOptions {
  env?: NodeJS.ProcessEnv;
}

/** Throws UNAVAILABLE ("no ncache daemon is running ...") when none answers. */
export async function status(opts: StatusOptions = {}): Promise<StatusResult> {
  const client = await connectToDaemon(opts.env ?? process.env);
  return client.call<StatusResult>('status');
}
