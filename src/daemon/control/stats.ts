// `stats`: the daemon's numbers in one document: requests and hit rates per
// service (from Metrics), bytes and blobs per tier, dedup and compression
// ratios, S3 requests by operation, the upload backlog, latency percentiles
// and uptime. Everything is read from memory; nothing touches a disk or S3.
import type { StoreStats } from '../../stores/store.js';
import type { LifetimeSnapshot, Metrics, MetricsSnapshot } from '../metrics.js';
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
  readonly blobs: number | null;
  readonly logicalBytes: number | null;
  readonly chunks: number | null;
  readonly chunkBytes: number | null;
  /** logical bytes / unique chunk bytes. */
  readonly dedupRatio: number | null;
  readonly chunksReused: number | null;
  readonly chunksWritten: number | null;
  /** The dedup store's own lifetime counts (catalog), when it reports them: numbers by name. */
  readonly lifetime: Record<string, number> | null;
}

export interface StatsCompression {
  readonly store: string;
  readonly path: string;
  readonly logicalBytes: number | null;
  readonly storedBytes: number | null;
  /** logical / stored, for what passed through this daemon. */
  readonly ratio: number | null;
}

export interface StatsS3 {
  readonly store: string;
  readonly path: string;
  readonly bucket: string | null;
  readonly prefix: string | null;
  /** Requests sent by S3 operation (retries included). */
  readonly requests: Record<string, number>;
  readonly retries: number | null;
  readonly bytesUploaded: number | null;
  readonly bytesDownloaded: number | null;
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
  readonly uploadBacklog: {
    readonly blobs: number;
    readonly bytes: number;
    readonly oldestAgeMs: number | null;
    readonly stores: StatsBacklog[];
  };
}

/** What stats needs of the control context (metrics are optional: a daemon built without them still answers). */
export type StatsContext = Pick<ControlContext, 'config' | 'stores' | 'addresses' | 'startedAtMs' | 'pid' | 'version' | 'clock'> & {
  readonly metrics?: Metrics;
};

export async function statsMethod(_params: Record<string, unknown>, ctx: StatsContext): Promise<StatsResult> {
  return collectStats(ctx);
}

export function collectStats(ctx: StatsContext): StatsResult {
  const stores: StatsResult['stores'] = [];
  const dedup: StatsDedup[] = [];
  const compression: StatsCompression[] = [];
  const s3: StatsS3[] = [];
  const backlog: StatsBacklog[] = [];
  for (const named of ctx.config.stores) {
    const tiers: StatsTier[] = [];
    for (const node of flatten(storeTree(ctx.stores, named))) {
      const st: StoreStats = node.driver.stats?.() ?? { kind: node.driver.kind };
      const kind = node.driver.kind;
      tiers.push({
        path: node.path,
        kind,
        depth: node.depth,
        tier: node.tier ?? null,
        bytes: num(st.bytes),
        blobs: num(st.count),
        maxBytes: typeof st.maxBytes === 'number' && st.maxBytes > 0 ? st.maxBytes : null,
        evictions: num(st.evictions),
      });
      const where = { store: named.name, path: node.path };
      if (st.kind === 'dedup') {
        dedup.push({
          ...where,
          blobs: num(st.blobs),
          logicalBytes: num(st.logicalBytes),
          chunks: num(st.chunks),
          chunkBytes: num(st.chunkBytes),
          dedupRatio: num(st.dedupRatio),
          chunksReused: num(st.chunksReused),
          chunksWritten: num(st.chunksWritten),
          lifetime: numbers(st.lifetime),
        });
      } else if (st.kind === 'compression') {
        compression.push({ ...where, logicalBytes: num(st.logicalBytes), storedBytes: num(st.storedBytes), ratio: num(st.ratio) });
      } else if (kind === 'experimental_cloud_object_store') {
        const requests: Record<string, number> = {};
        for (const [op, n] of Object.entries((st.requests as Record<string, unknown> | undefined) ?? {})) {
          if (typeof n === 'number') requests[op] = n;
        }
        s3.push({
          ...where,
          bucket: str(st.bucket),
          prefix: str(st.key_prefix),
          requests,
          retries: num(st.retries),
          bytesUploaded: num(st.bytes_uploaded),
          bytesDownloaded: num(st.bytes_downloaded),
        });
      }
      const wb = st.writeBehind as Record<string, unknown> | undefined;
      if (wb !== undefined && typeof wb === 'object') {
        backlog.push({
          ...where,
          blobs: num(wb.backlogCount) ?? 0,
          bytes: num(wb.backlogBytes) ?? 0,
          oldestAgeMs: num(wb.oldestAgeMs),
          uploading: num(wb.uploading) ?? 0,
          uploaded: num(wb.uploaded) ?? 0,
          lastError: str(wb.lastError),
        });
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
      addresses: ctx.addresses.map((a) => `grpc://${a}`),
    },
    requests: snapshot === undefined ? null : withoutTimes(snapshot),
    lifetime: ctx.metrics?.lifetime() ?? null,
    stores,
    dedup,
    compression,
    s3,
    uploadBacklog: {
      blobs: backlog.reduce((n, b) => n + b.blobs, 0),
      bytes: backlog.reduce((n, b) => n + b.bytes, 0),
      oldestAgeMs: ages.length > 0 ? Math.max(...ages) : null,
      stores: backlog,
    },
  };
}

function withoutTimes(s: MetricsSnapshot): Omit<MetricsSnapshot, 'startedAtMs' | 'uptimeMs'> {
  const { startedAtMs: _s, uptimeMs: _u, ...rest } = s;
  return rest;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The numeric fields of an object, or null when it is not one. */
function numbers(v: unknown): Record<string, number> | null {
  if (v === null || typeof v !== 'object') return null;
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  return out;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
