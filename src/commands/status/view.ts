// How `ncache status` looks on a terminal (plain text; --json prints the result as is).
import type { StatusResult, StatusTier } from '../../daemon/control/status.js';
import { formatDuration } from '../../util/durations.js';
import { formatBytes } from '../../util/sizes.js';

export function formatStatus(s: StatusResult): string {
  const lines = [
    `ncache ${s.version} is running (pid ${s.pid}), up ${formatDuration(s.uptimeSeconds)} since ${s.startedAt}`,
    ...s.addresses.map((a) => `  listening   ${a}`),
    `  config      ${s.configSource}`,
    `  state dir   ${s.stateDir}`,
    `  catalog     ${s.catalogPath}`,
    `  control     ${s.socketPath}`,
    'stores:',
  ];
  for (const store of s.stores) {
    for (const tier of store.tiers) lines.push(`  ${'  '.repeat(tier.depth)}${tierLine(tier)}`);
  }
  const b = s.uploadBacklog;
  if (b.byStore.length === 0) {
    lines.push('uploads owed to slow tiers: none (no store writes behind)');
  } else {
    const oldest = b.oldestAgeSeconds !== null ? `, oldest ${formatDuration(b.oldestAgeSeconds)} old` : '';
    lines.push(`uploads owed to slow tiers: ${b.blobs} blobs, ${formatBytes(b.bytes)}${oldest}, ${b.uploading} uploading`);
    if (b.lastError !== null) lines.push(`  last upload error: ${b.lastError}`);
  }
  return lines.join('\n') + '\n';
}

function tierLine(tier: StatusTier): string {
  const name = tier.depth === 0 ? `${tier.path} (${tier.kind})` : tier.path.slice(tier.path.lastIndexOf('/') + 1);
  if (tier.usedBytes === null) return name;
  const max = tier.maxBytes !== null ? ` / ${formatBytes(tier.maxBytes)}` : ' (no limit)';
  const count = tier.count !== null ? `, ${tier.count} entries` : '';
  return `${name}  ${formatBytes(tier.usedBytes)}${max}${count}`;
}
