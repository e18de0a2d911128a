// `stats`: the daemon's numbers in one document: requests and hit rates per
// service (from Metrics), bytes and blobs per tier, dedup and compression
// ratios, S3 requests by operation, upstream (grpc store) calls, the upload backlog, latency percentiles
// and uptime. Everything is read from memory; nothing touches a disk or S3.
import { clientUrls } from '../../config/bazelrc.js';
import type { DedupCounts } from '../../stores/store-stats.js';
import type { WriteBehindStats } from '../../stores/write-behind.js';
import type { LifetimeSnapshot, Metrics, MetricsSnapshot } from '../metrics.js';
import type { NoParams } from './api.js';
import { type SchedulerStats, schedulerStats, snapshots } from './execution.js';
import { flatten, storeTree } from './store-nodes.js';
import type { ControlContext } from './types.js';

export interface StatsTier {
  /** Catalog-style config path ("CAS.fast_slow.fast"). */
  readonly path: string;
  readonly kind: string;
  readonly depth: number;
  /** "fast" / "slow" below a fast_slow, else null. */
  readonly tier: 'fast' | 'slow' | null;
  /** Bytes and blobs held (stores that hold bytes: memory, filesystem), else null. */
  readonly bytes: number | null;
  readonly blobs: number | null;
  /** Null when unlimited or not a holding store. */
  readonly maxBytes: number | null;
  readonly evictions: number | null;
}

export interface StatsDedup {
  readonly store: string;
  readonly path: string;
  readonly blobs: number;
  readonly logicalBytes: number;
  readonly chunks: number;
  readonly chunkBytes: number;
  /** logical bytes / unique chunk bytes. */
  readonly dedupRatio: number;
  readonly chunksReused: number;
  readonly chunksWritten: number;
  /** The dedup store's own lifetime counts (catalog); null without a catalog. */
  readonly lifetime: Readonly<DedupCounts> | null;
}

export interface StatsCompression {
  readonly store: string;
  readonly path: string;
  readonly logicalBytes: number;
  readonly storedBytes: number;
  /** logical / stored, for what passed through this daemon. */
  readonly ratio: number;
}

export interface StatsS3 {
  readonly store: string;
  readonly path: string;
  readonly bucket: string;
  readonly prefix: string;
  /** Requests sent by S3 operation (retries included). */
  readonly requests: Readonly<Record<string, number>>;
  readonly retries: number;
  readonly bytesUploaded: number;
  readonly bytesDownloaded: number;
}

/** A grpc store: calls to its upstream REAPI server. */
export interface StatsUpstream {
  readonly store: string;
  readonly path: string;
  readonly storeType: 'cas' | 'ac';
  readonly addresses: readonly string[];
  readonly instanceName: string;
  /** Calls started (retries included), calls that failed (NOT_FOUND answers included), retries and resumed streams. */
  readonly requests: number;
  readonly errors: number;
  readonly retries: number;
  readonly bytesUploaded: number;
  readonly bytesDownloaded: number;
}

export interface StatsBacklog {
  readonly store: string;
  readonly path: string;
  readonly blobs: number;
  readonly bytes: number;
  readonly oldestAgeMs: number | null;
  readonly uploading: number;
  readonly uploaded: number;
  readonly lastError: string | null;
}

export interface StatsExecution {
  readonly schedulers: readonly SchedulerStats[];
  /** Execute calls answered from the action cache (cached_result) since start; null when the daemon does not count them. */
  readonly cacheHits: number | null;
}

export interface StatsResult {
  readonly daemon: {
    readonly pid: number;
    readonly version: string;
    readonly startedAtMs: number;
    readonly uptimeMs: number;
    readonly addresses: string[];
  };
  /** Null when the daemon has no request metrics. */
  readonly requests: Omit<MetricsSnapshot, 'startedAtMs' | 'uptimeMs'> | null;
  /** Totals over every daemon run on this state dir (catalog counters, saved every minute and at stop); null without metrics. */
  readonly lifetime: LifetimeSnapshot | null;
  readonly stores: { readonly name: string; readonly tiers: StatsTier[] }[];
  readonly dedup: StatsDedup[];
  readonly compression: StatsCompression[];
  readonly s3: StatsS3[];
  readonly upstream: StatsUpstream[];
  readonly uploadBacklog: {
    readonly blobs: number;
    readonly bytes: number;
    readonly oldestAgeMs: number | null;
    readonly stores: StatsBacklog[];
  };
  /** Remote execution; null when the config has no schedulers. */
  readonly execution: StatsExecution | null;
}

/** What stats needs of the control context (metrics are optional: a daemon built without them still answers). */
export type StatsContext = Pick<
  ControlContext,
  'config' | 'stores' | 'addresses' | 'startedAtMs' | 'pid' | 'version' | 'clock' | 'schedulers' | 'executeCacheHits'
> & {
  readonly metrics?: Metrics;
};

export async function statsMethod(_params: NoParams, ctx: StatsContext): Promise<StatsResult> {
  return collectStats(ctx);
}

export function collectStats(ctx: StatsContext): StatsResult {
  const stores: StatsResult['stores'] = [];
  const dedup: StatsDedup[] = [];
  const compression: StatsCompression[] = [];
  const s3: StatsS3[] = [];
  const upstream: StatsUpstream[] = [];
  const backlog: StatsBacklog[] = [];
  for (const named of ctx.config.stores) {
    const tiers: StatsTier[] = [];
    for (const node of flatten(storeTree(ctx.stores, named))) {
      const st = node.driver.stats?.();
      tiers.push({
        path: node.path,
        kind: node.driver.kind,
        depth: node.depth,
        tier: node.tier ?? null,
        bytes: st?.bytes ?? null,
        blobs: st?.count ?? null,
        maxBytes: st?.maxBytes !== undefined && st.maxBytes > 0 ? st.maxBytes : null,
        evictions: st?.evictions ?? null,
      });
      const where = { store: named.name, path: node.path };
      if (st?.kind === 'dedup') {
        const { blobs, logicalBytes, chunks, chunkBytes, dedupRatio, chunksReused, chunksWritten } = st;
        dedup.push({ ...where, blobs, logicalBytes, chunks, chunkBytes, dedupRatio, chunksReused, chunksWritten, lifetime: st.lifetime ?? null });
      } else if (st?.kind === 'compression') {
        compression.push({ ...where, logicalBytes: st.logicalBytes, storedBytes: st.storedBytes, ratio: st.ratio });
      } else if (st?.kind === 'experimental_cloud_object_store') {
        s3.push({
          ...where,
          bucket: st.bucket,
          prefix: st.keyPrefix,
          requests: st.requests,
          retries: st.retries,
          bytesUploaded: st.bytesUploaded,
          bytesDownloaded: st.bytesDownloaded,
        });
      } else if (st?.kind === 'grpc') {
        const { storeType, addresses, instanceName, requests, errors, retries, bytesUploaded, bytesDownloaded } = st;
        upstream.push({ ...where, storeType, addresses, instanceName, requests, errors, retries, bytesUploaded, bytesDownloaded });
      } else if (st?.kind === 'fast_slow' && st.writeBehind !== undefined) {
        backlog.push({ ...where, ...backlogOf(st.writeBehind) });
      }
    }
    stores.push({ name: named.name, tiers });
  }
  const snapshot = ctx.metrics?.snapshot();
  const now = ctx.clock.now();
  const ages = backlog.map((b) => b.oldestAgeMs).filter((a): a is number => a !== null);
  return {
    daemon: {
      pid: ctx.pid,
      version: ctx.version,
      startedAtMs: ctx.startedAtMs,
      uptimeMs: Math.max(0, now - ctx.startedAtMs),
      addresses: clientUrls(ctx.config, ctx.addresses),
    },
    requests: snapshot === undefined ? null : withoutTimes(snapshot),
    lifetime: ctx.metrics?.lifetime() ?? null,
    stores,
    dedup,
    compression,
    s3,
    upstream,
    uploadBacklog: {
      blobs: backlog.reduce((n, b) => n + b.blobs, 0),
      bytes: backlog.reduce((n, b) => n + b.bytes, 0),
      oldestAgeMs: ages.length > 0 ? Math.max(...ages) : null,
      stores: backlog,
    },
    execution:
      ctx.schedulers.size === 0
        ? null
        : { schedulers: snapshots(ctx.schedulers).map(schedulerStats), cacheHits: ctx.executeCacheHits?.() ?? null },
  };
}

function withoutTimes(s: MetricsSnapshot): Omit<MetricsSnapshot, 'startedAtMs' | 'uptimeMs'> {
  const { startedAtMs: _s, uptimeMs: _u, ...rest } = s;
  return rest;
}

function backlogOf(wb: WriteBehindStats): Omit<StatsBacklog, 'store' | 'path'> {
  return {
    blobs: wb.backlogCount,
    bytes: wb.backlogBytes,
    oldestAgeMs: wb.oldestAgeMs ?? null,
    uploading: wb.uploading,
    uploaded: wb.uploaded,
    lastError: wb.lastError ?? null,
  };
}
