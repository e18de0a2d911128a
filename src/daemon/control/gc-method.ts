// The `gc` control method: runs src/maintenance/gc.ts on the daemon's stores
// with the daemon's pins, sending progress frames. One gc or verify at a time.
import { runGc } from '../../maintenance/gc.js';
import { pinsFor } from '../../maintenance/pinning-store.js';
import { exclusive, optionalBoolean, optionalCount, optionalSeconds } from './maintenance-params.js';
import type { ControlMethod } from './types.js';

export const gcMethod: ControlMethod = async (params, ctx, out) => {
  const targetBytes = optionalCount(params, 'targetBytes');
  const olderThanSeconds = optionalSeconds(params, 'olderThanSeconds');
  const orphanGraceSeconds = optionalSeconds(params, 'orphanGraceSeconds');
  const dryRun = optionalBoolean(params, 'dryRun') ?? false;
  return exclusive(ctx.stores, 'gc', () =>
    runGc(
      { config: ctx.config, stores: ctx.stores, catalog: ctx.catalog, clock: ctx.clock, logger: ctx.logger, pins: pinsFor(ctx.stores) },
      {
        targetBytes,
        olderThanMs: olderThanSeconds === undefined ? undefined : olderThanSeconds * 1000,
        orphanGraceMs: orphanGraceSeconds === undefined ? undefined : orphanGraceSeconds * 1000,
        dryRun,
        onProgress: (p) => out.progress(p),
        signal: out.signal,
      },
    ),
  );
};
