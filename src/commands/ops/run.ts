// `ncache ops`: the operations the daemon's schedulers know (the `ops` control
// method): queued, executing and recently completed actions.
import type { OpsParams } from '../../daemon/control/api.js';
import type { OpsResult } from '../../daemon/control/ops.js';
import { connectToDaemon } from '../daemon-client.js';

export type { OpsResult };

export interface OpsOptions extends OpsParams {
  env?: NodeJS.ProcessEnv;
}

export async function ops(opts: OpsOptions = {}): Promise<OpsResult> {
  const client = await connectToDaemon(opts.env);
  return client.call('ops', { scheduler: opts.scheduler, stage: opts.stage, limit: opts.limit });
}
