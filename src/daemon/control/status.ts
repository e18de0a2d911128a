// `status`: who the daemon is (pid, version, uptime, config, addresses,
// paths), each named store's tree with used/max bytes, and the uploads owed
// to slow tiers.
import type { ChildRole } from '../../config/store-kinds.js';
import type { BuiltStore } from '../../stores/factory.js';
import type { WriteBehindStats } from '../../stores/write-behind.js';
import type { ControlContext, ControlHandler } from './types.js';
import { bazelrcLines, clientUrls } from '../../config/bazelrc.js';
import { metricsUrls } from '../../config/metrics-urls.js';
import { type SchedulerStatus, schedulerStatus, snapshots } from './execution.js';

export interface StatusTier {
  /** Position in the store's tree: the store's name, then one segment per level ("CAS/fast_slow/fast:filesystem"). */
  path: string;
  kind: string;
  depth: number;
  /** Bytes held, for stores that hold bytes (memory, filesystem). */
  usedBytes: number | null;
  /** Their limit; null when unlimited or not a holding store. */
  maxBytes: number | null;
  count: number | null;
}

export interface UploadBacklog {
  blobs: number;
  bytes: number;
  /** Age of the oldest owed upload in seconds; null when nothing is owed. */
  oldestAgeSeconds: number | null;
  uploading: number;
  lastError: string | null;
}

export interface StatusResult {
  pid: number;
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  configSource: string;
  /** grpc://HOST:PORT (grpcs:// for a TLS listener) per servers[] entry. */
  addresses: string[];
  /** Lines to paste into .bazelrc for this daemon (its config's CAS/AC server and instance name). */
  bazelrcLines: string[];
  /** Prometheus scrape URLs (listeners with experimental_prometheus); absent from daemons older than this field. */
  metricsUrls?: string[];
  socketPath: string;
  stateDir: string;
  catalogPath: string;
  stores: { name: string; tiers: StatusTier[] }[];
  /** Summed over every fast_slow store with write-behind; per store in `byStore`. */
  uploadBacklog: UploadBacklog & { byStore: ({ path: string } & UploadBacklog)[] };
  /** Remote execution: each scheduler with its queue and workers; empty when the config runs no actions. */
  schedulers: SchedulerStatus[];
}

/** How a child's role reads in a tier path ("CAS/fast_slow/fast:filesystem"); a child that holds its parent's values gets no label. */
const ROLE_LABELS: Record<ChildRole, string | undefined> = {
  values: undefined,
  fast: 'fast',
  slow: 'slow',
  dedup_index: 'index',
  dedup_content: 'content',
  cas_lookup: undefined,
};

export const statusMethod: ControlHandler<'status'> = async (_params, ctx) => status(ctx);

export function status(ctx: ControlContext): StatusResult {
  const now = ctx.clock.now();
  const stores: StatusResult['stores'] = [];
  const byStore: ({ path: string } & UploadBacklog)[] = [];
  for (const name of ctx.stores.names()) {
    const tiers: StatusTier[] = [];
    walk(ctx.stores.tree(name), name, 0, new Set(), (store, path, depth) => {
      const stats = store.stats?.();
      tiers.push({
        path,
        kind: store.kind,
        depth,
        usedBytes: stats?.bytes ?? null,
        maxBytes: stats?.maxBytes !== undefined && stats.maxBytes > 0 ? stats.maxBytes : null,
        count: stats?.count ?? null,
      });
      if (stats?.kind === 'fast_slow' && stats.writeBehind !== undefined) byStore.push({ path, ...backlogOf(stats.writeBehind) });
    });
    stores.push({ name, tiers });
  }
  const oldest = byStore.map((b) => b.oldestAgeSeconds).filter((a): a is number => a !== null);
  return {
    pid: ctx.pid,
    version: ctx.version,
    startedAt: new Date(ctx.startedAtMs).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((now - ctx.startedAtMs) / 1000)),
    configSource: ctx.configSource,
    addresses: clientUrls(ctx.config, ctx.addresses),
    bazelrcLines: bazelrcLines(ctx.config, ctx.addresses),
    metricsUrls: metricsUrls(ctx.config, ctx.addresses),
    socketPath: ctx.socketPath,
    stateDir: ctx.stateDir,
    catalogPath: ctx.catalog.path,
    stores,
    uploadBacklog: {
      blobs: sum(byStore.map((b) => b.blobs)),
      bytes: sum(byStore.map((b) => b.bytes)),
      oldestAgeSeconds: oldest.length > 0 ? Math.max(...oldest) : null,
      uploading: sum(byStore.map((b) => b.uploading)),
      lastError: byStore.find((b) => b.lastError !== null)?.lastError ?? null,
      byStore,
    },
    schedulers: snapshots(ctx.schedulers).map((snap) => schedulerStatus(snap, now)),
  };
}

function backlogOf(wb: WriteBehindStats): UploadBacklog {
  return {
    blobs: wb.backlogCount,
    bytes: wb.backlogBytes,
    oldestAgeSeconds: wb.oldestAgeMs === undefined ? null : Math.floor(wb.oldestAgeMs / 1000),
    uploading: wb.uploading,
    lastError: wb.lastError ?? null,
  };
}

/** Visits each driver of a tree once (a store referenced twice is shown where it is first met), with its tier path and depth. */
function walk(
  built: BuiltStore,
  path: string,
  depth: number,
  seen: Set<BuiltStore['driver']>,
  visit: (store: BuiltStore['driver'], path: string, depth: number) => void,
): void {
  if (seen.has(built.driver)) return;
  seen.add(built.driver);
  visit(built.driver, path, depth);
  for (const child of built.children) {
    const st = child.driver.stats?.();
    const named = st?.kind === 'ref_store' ? `ref_store:${st.name}` : child.driver.kind;
    const role = child.role === undefined ? undefined : ROLE_LABELS[child.role];
    walk(child, `${path}/${role === undefined ? named : `${role}:${named}`}`, depth + 1, seen, visit);
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
