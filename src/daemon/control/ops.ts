// `ops`: the operations the schedulers know: queued, executing, and completed
// ones still retained (retain_completed_for_s), with action digest, stage,
// worker and times.
import { invalidArgument } from '../../util/errors.js';
import type { OpsParams } from './api.js';
import { type OperationRow, operationRows } from './execution.js';
import type { ControlContext } from './types.js';

export interface OpsResult {
  /** Executing, then queued, then completed (newest first), per scheduler in config order; cut to `limit`. */
  readonly operations: readonly OperationRow[];
  /** Rows before `limit` cut them. */
  readonly total: number;
  /** The schedulers asked (config names). */
  readonly schedulers: readonly string[];
}

export async function opsMethod(params: OpsParams, ctx: Pick<ControlContext, 'schedulers' | 'clock'>): Promise<OpsResult> {
  const asked = params.scheduler === undefined ? [...ctx.schedulers.values()] : [ctx.schedulers.get(params.scheduler)];
  const known = [...ctx.schedulers.keys()];
  const schedulers = asked.flatMap((s) => (s === undefined ? [] : [s]));
  if (schedulers.length < asked.length) {
    throw invalidArgument(
      `ops: param "scheduler": no scheduler named ${JSON.stringify(params.scheduler)} ` +
        (known.length === 0 ? '(this daemon runs no actions: its config has no schedulers)' : `(schedulers: ${known.join(', ')})`),
    );
  }
  const now = ctx.clock.now();
  const stage = params.stage ?? 'all';
  const rows = schedulers.flatMap((s) => operationRows(s.snapshot(), now)).filter((r) => stage === 'all' || r.stage === stage);
  return {
    operations: params.limit === undefined ? rows : rows.slice(0, params.limit),
    total: rows.length,
    schedulers: schedulers.map((s) => s.name),
  };
}
