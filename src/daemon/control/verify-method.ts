// The `verify` control method: runs src/maintenance/verify.ts on the daemon's
// stores, sending progress frames. One gc or verify at a time.
import { parseVerifyTier, runVerify } from '../../maintenance/verify.js';
import { exclusive, optionalBoolean } from './maintenance-params.js';
import type { ControlMethod } from './types.js';

export const verifyMethod: ControlMethod = async (params, ctx, out) => {
  const tier = parseVerifyTier(params.tier);
  const repair = optionalBoolean(params, 'repair') ?? false;
  return exclusive(ctx.stores, 'verify', () =>
    runVerify(
      { config: ctx.config, stores: ctx.stores, catalog: ctx.catalog, clock: ctx.clock, logger: ctx.logger },
      { tier, repair, onProgress: (p) => out.progress(p), signal: out.signal },
    ),
  );
};
