// `ncache ls` as an aligned table: digest, sizes (human), tiers, last access
// and the chunk count of deduplicated blobs.
import type { LsEntry } from '../../daemon/control/ls.js';
import { formatDuration } from '../../util/durations.js';
import { formatBytes } from '../../util/sizes.js';
import { alignTable } from '../stats/model.js';

/** The table as text lines (header first); `nowMs` turns access times into ages. */
export function formatLsTable(entries: readonly LsEntry[], nowMs: number): string {
  if (entries.length === 0) return 'no entries\n';
  const rows = entries.map((e) => [
    e.type,
    e.digest,
    formatBytes(e.size),
    e.storedSize === null ? '-' : formatBytes(e.storedSize),
    e.tiers.join(',') || '-',
    e.lastAccessMs === null ? '-' : `${formatDuration(Math.max(0, Math.floor((nowMs - e.lastAccessMs) / 1000)))} ago`,
    e.chunkCount === undefined ? '' : String(e.chunkCount),
  ]);
  const lines = alignTable({
    columns: ['type', 'digest', 'size', 'stored', 'tiers', 'last access', 'chunks'],
    rows,
    rightAligned: new Set([2, 3, 6]),
  });
  return lines.map((l) => l.trimEnd()).join('\n') + '\n';
}
