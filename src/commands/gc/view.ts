// `ncache gc` for people: what was freed, per tier, and what was kept (--json
// prints the report as it is). Colour only when asked for (a terminal without NO_COLOR).
import type { GcReport } from '../../maintenance/gc.js';
import { formatBytes } from '../../util/sizes.js';
import { paint, type ViewOptions } from '../output.js';

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
