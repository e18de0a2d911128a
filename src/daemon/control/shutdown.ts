// `shutdown {force?}`: the daemon answers, then stops (gracefully, or with
// force: no grace for in-flight calls and no upload flush; owed uploads stay
// journaled and resume at the next start).
import { invalidArgument } from '../../util/errors.js';
import type { ControlMethod } from './types.js';

export interface ShutdownResult {
  pid: number;
  force: boolean;
}

export const shutdownMethod: ControlMethod = async (params, ctx): Promise<ShutdownResult> => {
  const force = params.force ?? false;
  if (typeof force !== 'boolean') throw invalidArgument(`shutdown: param "force" must be a boolean, got ${JSON.stringify(force)}`);
  ctx.logger.info(`shutdown requested through the control socket${force ? ' (force)' : ''}`);
  ctx.requestStop({ force });
  return { pid: ctx.pid, force };
};
