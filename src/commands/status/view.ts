// How `ncache status` looks on a terminal (plain text; --json prints the result as is).
import type { SchedulerStatus, WorkerStatus } from '../../daemon/control/execution.js';
import type { StatusResult, StatusTier } from '../../daemon/control/status.js';
import type { UpstreamStatus } from '../../daemon/control/upstream-status.js';
import { ms } from '../stats/model.js';
import { formatDuration } from '../../util/durations.js';
import { formatBytes } from '../../util/sizes.js';

/** The daemon's status; `upstreams` when the command asked for them. */
export function formatStatus(s: StatusResult & { upstreams?: UpstreamStatus[] }): string {
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
  if (s.schedulers.length > 0) lines.push('execution:', ...s.schedulers.flatMap(schedulerLines));
  if (s.upstreams !== undefined && s.upstreams.length > 0) lines.push('upstreams:', ...s.upstreams.flatMap(upstreamLines));
  return lines.join('\n') + '\n';
}

/** A scheduler, its queue, and each worker with what it offers and runs. */
function schedulerLines(s: SchedulerStatus): string[] {
  const kinds = s.kinds.length > 1 || s.kinds[0] !== 'simple' ? ` (${s.kinds.join(' > ')})` : '';
  if (s.upstream !== null) {
    const head = `  scheduler ${s.name}${kinds}: forwards to ${s.upstream.address}: ${s.queued} queued, ${s.executing} executing there`;
    return [head, ...s.upstream.running.map((r) => `    running ${r.actionDigest || r.operation} upstream${r.runningForMs !== null ? ` for ${ms(r.runningForMs)}` : ''}`)];
  }
  const head = `  scheduler ${s.name}${kinds}: ${s.queued} queued, ${s.executing} executing, ${s.workers.length} worker${s.workers.length === 1 ? '' : 's'}`;
  if (s.workers.length === 0) return [head, '    no worker serves it: actions sent to it fail (add a workers[] entry; ncache init --exec writes one)'];
  return [head, ...s.workers.flatMap(workerLines)];
}

function workerLines(w: WorkerStatus): string[] {
  const properties = Object.entries(w.properties).map(([name, values]) => `${name}=${values.join(',')}`);
  const free = Object.entries(w.available).map(([name, n]) => `${name} ${n}`);
  return [
    `    worker ${w.id}: ${w.running.length}/${w.slots} slots busy` + (free.length > 0 ? `, free: ${free.join(', ')}` : ''),
    `      properties ${properties.length > 0 ? properties.join(' ') : '(none)'}`,
    ...w.running.map(
      (r) => `      running ${r.actionDigest || r.operation}  ${r.workerStage?.replace('_', ' ') ?? 'starting'}${r.runningForMs !== null ? ` for ${ms(r.runningForMs)}` : ''}`,
    ),
  ];
}

/** An upstream: where, whether it answered (and in how long, or why not), what it supports, and what here uses it. */
function upstreamLines(u: UpstreamStatus): string[] {
  const head = `  ${u.address} (instance ${JSON.stringify(u.instanceName)})`;
  const users = `    used by ${u.usedBy.join(', ')}`;
  if (!u.reachable || u.capabilities === null) return [`${head}: unreachable: ${u.error ?? 'no answer'}`, users];
  const c = u.capabilities;
  return [
    `${head}: reachable, answered in ${u.latencyMs ?? '?'} ms`,
    `    execution ${c.execEnabled ? 'enabled' : 'not offered'}, digest functions ${c.digestFunctions.join(', ') || '(none)'}, ` +
      `action cache ${c.actionCacheUpdateEnabled ? 'writable' : 'read-only'}, ` +
      `max batch ${c.maxBatchTotalSizeBytes > 0 ? formatBytes(c.maxBatchTotalSizeBytes) : 'unlimited'}, ` +
      `compressors ${c.compressors.join(', ') || 'none'}, API ${c.apiVersions}`,
    users,
  ];
}

function tierLine(tier: StatusTier): string {
  const name = tier.depth === 0 ? `${tier.path} (${tier.kind})` : tier.path.slice(tier.path.lastIndexOf('/') + 1);
  if (tier.usedBytes === null) return name;
  const max = tier.maxBytes !== null ? ` / ${formatBytes(tier.maxBytes)}` : ' (no limit)';
  const count = tier.count !== null ? `, ${tier.count} entries` : '';
  return `${name}  ${formatBytes(tier.usedBytes)}${max}${count}`;
}
