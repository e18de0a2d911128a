// `shutdown {force?}`: the daemon answers, then stops (gracefully, or with
// force: no grace for in-flight calls and no upload flush; owed uploads stay
// journaled and resume at the next start).
import type { ControlHandler } from './types.js';

export interface ShutdownResult {
  pid: number;
  force: boolean;
}

export const shutdownMethod: ControlHandler<'shutdown'> = async (params, ctx) => {
  const force = params.force ?? false;
  ctx.logger.info(`shutdown requested through the control socket${force ? ' (force)' : ''}`);
  ctx.requestStop({ force });
  return { pid: ctx.pid, force };
};
