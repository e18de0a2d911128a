// `ncache verify` for people: each problem and its repair, per tier counts and
// a summary (--json prints the report as it is). Colour only when asked for.
import type { VerifyReport } from '../../maintenance/verify.js';
import { formatBytes } from '../../util/sizes.js';
import { paint, type ViewOptions } from '../output.js';

export function formatVerifyReport(r: VerifyReport, opts: ViewOptions): string {
  const lines: string[] = [];
  for (const p of r.problems) {
    const what = paint(opts.color, 31, p.problem.toUpperCase());
    let line = `${what} ${p.digest} in ${p.tier} (${p.kind}, ${p.role}): ${p.detail}`;
    if (p.repair !== undefined) {
      const fix =
        p.repair === 'restored'
          ? `restored from ${p.repairedFrom}`
          : p.repair === 'evicted'
            ? 'evicted (clients upload it again)'
            : p.repair === 'forgotten'
              ? 'forgotten by the catalog (clients upload it again)'
              : `not repaired${p.repairError !== undefined ? `: ${p.repairError}` : ''}`;
      line += `\n    -> ${fix}`;
    }
    lines.push(line);
  }
  for (const t of r.tiers) {
    lines.push(`  ${t.id} (${t.kind}, ${t.role}): ${t.checked} checked, ${formatBytes(t.bytes)}; ${t.corrupt} corrupt, ${t.missing} missing`);
  }
  const summary = `verify --tier ${r.tier}: ${r.checked.count} values checked (${formatBytes(r.checked.bytes)}); ${r.found} problem(s)`;
  if (r.found === 0) lines.push(`${summary}, ${paint(opts.color, 32, 'all good')}`);
  else if (r.unrepaired === 0) lines.push(`${summary}, all repaired`);
  else {
    lines.push(
      `${summary}, ${paint(opts.color, 31, `${r.unrepaired} not repaired`)}` + (r.repair ? '' : ' (run again with --repair to fix them)'),
    );
  }
  return lines.join('\n') + '\n';
}
