// How `ncache ops` looks on a terminal: one aligned row per operation
// (--json prints the result as is, operation names included).
import type { OperationRow } from '../../daemon/control/execution.js';
import type { OpsResult } from '../../daemon/control/ops.js';
import { alignTable, ms } from '../stats/model.js';

export function formatOps(result: OpsResult): string {
  if (result.schedulers.length === 0) return 'no schedulers: this daemon runs no actions (ncache init --exec writes a config that does)\n';
  if (result.operations.length === 0) return `no operations (schedulers: ${result.schedulers.join(', ')})\n`;
  const several = result.schedulers.length > 1;
  const columns = [...(several ? ['scheduler'] : []), 'stage', 'action', 'worker', 'queued at', 'wait', 'run', 'result'];
  const rows = result.operations.map((op) => [...(several ? [op.scheduler] : []), stageOf(op), op.actionDigest, op.worker ?? '-', clockTime(op.queuedAt), ms(op.queueWaitMs), ms(op.executionMs), resultOf(op)]);
  const first = several ? 1 : 0;
  const table = alignTable({ columns, rows, rightAligned: new Set([first + 4, first + 5]) });
  const cut = result.total > result.operations.length ? [`(${result.operations.length} of ${result.total} operations shown; --limit)`] : [];
  return [...table.map((l) => l.trimEnd()), ...cut].join('\n') + '\n';
}

/** "executing" says what the worker is doing once it has said. */
function stageOf(op: OperationRow): string {
  return op.stage === 'executing' && op.workerStage !== null ? `executing (${op.workerStage.replace('_', ' ')})` : op.stage;
}

function resultOf(op: OperationRow): string {
  const r = op.result;
  if (r === null) return '';
  if (r.status !== 'OK') return r.message !== null ? `${r.status}: ${r.message}` : r.status;
  return `exit ${r.exitCode}`;
}

/** HH:MM:SS local time: the date is today's for anything a scheduler still holds. */
function clockTime(iso: string): string {
  return new Date(iso).toTimeString().slice(0, 8);
}
