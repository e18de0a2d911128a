// The `verify` control method: runs src/maintenance/verify.ts on the daemon's
// stores, sending progress frames. One gc or verify at a time.
import { runVerify } from '../../maintenance/verify.js';
import type { ControlHandler } from './types.js';

export const verifyMethod: ControlHandler<'verify'> = async (params, ctx, out) =>
  ctx.maintenance.exclusive('verify', () =>
    runVerify(
      { config: ctx.config, stores: ctx.stores, catalog: ctx.catalog, clock: ctx.clock, logger: ctx.logger },
      { tier: params.tier ?? 'all', repair: params.repair ?? false, onProgress: (p) => out.progress(p), signal: out.signal },
    ),
  );
