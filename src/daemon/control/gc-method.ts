// The `gc` control method: runs src/maintenance/gc.ts on the daemon's stores
// with the daemon's pins, sending progress frames. One gc or verify at a time.
import { runGc } from '../../maintenance/gc.js';
import type { ControlHandler } from './types.js';

export const gcMethod: ControlHandler<'gc'> = async (params, ctx, out) =>
  ctx.maintenance.exclusive('gc', () =>
    runGc(
      { config: ctx.config, stores: ctx.stores, catalog: ctx.catalog, clock: ctx.clock, logger: ctx.logger, pins: ctx.pins },
      {
        targetBytes: params.targetBytes,
        olderThanMs: params.olderThanSeconds === undefined ? undefined : params.olderThanSeconds * 1000,
        orphanGraceMs: params.orphanGraceSeconds === undefined ? undefined : params.orphanGraceSeconds * 1000,
        dryRun: params.dryRun ?? false,
        onProgress: (p) => out.progress(p),
        signal: out.signal,
      },
    ),
  );
