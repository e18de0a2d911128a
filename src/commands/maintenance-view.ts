// Plain-text reports of gc and verify for people (--json prints the reports as
// they are). Colour only when asked for (a terminal without NO_COLOR).
import type { GcReport } from '../maintenance/gc.js';
import type { VerifyReport } from '../maintenance/verify.js';
import { formatBytes } from '../util/sizes.js';

export interface ViewOptions {
  color: boolean;
}

const paint = (on: boolean, code: number, text: string) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);

const freed = (f: { count: number; bytes: number }) => `${f.count} (${formatBytes(f.bytes)})`;

export function formatGcReport(r: GcReport, opts: ViewOptions): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would free' : 'freed';
  lines.push(
    `${r.dryRun ? 'gc --dry-run (nothing was changed)' : 'gc'}: ${verb} ${freed(r.freed)}; ` +
      `local tiers ${formatBytes(r.localBytesBefore)} -> ${formatBytes(r.localBytesAfter)}`,
  );
  if (r.targetBytes !== null) {
    lines.push(
      `target ${formatBytes(r.targetBytes)}: ${r.targetReached ? paint(opts.color, 32, 'reached') : paint(opts.color, 33, 'not reached (the rest is in use, owed to a slow tier, or the only copy)')}`,
    );
  }
  if (r.olderThanSeconds !== null) lines.push(`evicted entries idle longer than ${r.olderThanSeconds} s`);
  for (const t of r.tiers) {
    lines.push(
      `  ${t.id} (${t.kind}): ${formatBytes(t.bytesBefore)} -> ${formatBytes(t.bytesAfter)}; evicted ${freed(t.evicted)}, ` +
        `orphan chunks ${freed(t.orphanChunks)}, stray files ${freed(t.strayFiles)}, vanished index rows ${t.vanishedRows}`,
    );
  }
  for (const id of r.remoteTiers) lines.push(`  ${id}: remote (shared), never touched by gc`);
  const { pinned, owed, onlyCopyChunk } = r.kept;
  if (pinned + owed + onlyCopyChunk > 0) {
    lines.push(`kept: ${pinned} in use by requests, ${owed} owed to a slow tier, ${onlyCopyChunk} only-copy dedup chunks`);
  }
  if (r.forgottenBlobs > 0) lines.push(`dedup blobs forgotten (their only index entry was evicted): ${r.forgottenBlobs}`);
  const c = r.catalog;
  lines.push(
    c.error !== undefined
      ? `catalog: not compacted (${c.error})`
      : `catalog: ${formatBytes(c.bytesBefore)} -> ${formatBytes(c.bytesAfter)}${r.dryRun ? ' (not compacted in a dry run)' : ''}`,
  );
  return lines.join('\n') + '\n';
}

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
