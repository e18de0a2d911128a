// What each store kind reports from stats(): one type per kind, told apart by
// `kind`, so a reader narrows (`if (st.kind === 'dedup') st.dedupRatio`)
// instead of re-parsing an open bag. All in one file, like the config's specs,
// so the whole vocabulary of `stats` and `status` reads in one place.
import type { DedupIndexStats } from '../catalog/dedup-index.js';
import type { StoreDirection } from '../config/types.js';
import type { WriteBehindStats } from './write-behind.js';

/**
 * What a store holds, for the tiers table of `stats` and `status`. Every kind
 * may report these: the ones that hold values (memory, filesystem) all of
 * them, a few wrappers what they count (dedup its blobs, existence_cache its
 * known keys), the rest none.
 */
interface Holdings {
  readonly bytes?: number;
  /** 0 when unlimited. */
  readonly maxBytes?: number;
  readonly count?: number;
  readonly evictions?: number;
}

export interface MemoryStats extends Holdings {
  readonly kind: 'memory';
  readonly bytes: number;
  readonly maxBytes: number;
  readonly count: number;
  readonly evictions: number;
}

/** Where a filesystem store's index came from at its last start. */
export type IndexSource = 'catalog' | 'directory';

export interface FilesystemStats extends Holdings {
  readonly kind: 'filesystem';
  readonly bytes: number;
  readonly maxBytes: number;
  readonly count: number;
  readonly evictions: number;
  readonly contentPath: string;
  /** Undefined before the first start. */
  readonly indexSource: IndexSource | undefined;
  /** Full reads of content_path since construction (the catalog index exists to avoid them). */
  readonly contentScans: number;
}

export interface NoopStats extends Holdings {
  readonly kind: 'noop';
  readonly bytes: 0;
  readonly count: 0;
}

export interface FastSlowCounters {
  fastHits: number;
  slowHits: number;
  misses: number;
  fills: number;
  fillFailures: number;
  /** Fills that took the value's size from the catalog's presence knowledge instead of asking the slow tier. */
  presenceHits: number;
  staleCorrected: number;
  slowHasFailures: number;
  /** Keys whose existence was asked of the slow tier (slow-tier-checks.ts). */
  slowChecks: number;
  /** Keys that joined a check of the same key already in flight. */
  slowChecksShared: number;
  /** Keys answered from the slow tier's positive answer of the last few seconds. */
  slowChecksReused: number;
}

export interface FastSlowStats extends Holdings, Readonly<FastSlowCounters> {
  readonly kind: 'fast_slow';
  readonly fastDirection: StoreDirection;
  readonly slowDirection: StoreDirection;
  readonly slowWriteMode: 'sync' | 'async';
  /** The upload backlog to the slow tier; present in async mode only. */
  readonly writeBehind?: WriteBehindStats;
}

export interface VerifyStats extends Holdings {
  readonly kind: 'verify';
  readonly verifySize: boolean;
  readonly verifyHash: boolean;
  readonly rejected: number;
}

export interface CompressionCounters {
  logicalBytes: number;
  storedBytes: number;
  blocksRaw: number;
  blocksCompressed: number;
  spilledUploads: number;
  logicalBytesRead: number;
  blocksDecoded: number;
  damagedReads: number;
  headerReads: number;
}

/** Counted for what passed through this process. */
export interface CompressionStats extends Holdings, Readonly<CompressionCounters> {
  readonly kind: 'compression';
  readonly blockSize: number;
  /** logical / stored bytes written (2 = half the space). */
  readonly ratio: number;
}

/** A dedup store's counts, for this process or (lifetime) since the catalog was created. */
export interface DedupCounts {
  blobsWritten: number;
  logicalBytesWritten: number;
  chunksReused: number;
  bytesReused: number;
  chunksWritten: number;
  bytesWritten: number;
  uploadsRejected: number;
  unreadableBlobs: number;
}

export interface DedupStats extends Holdings, DedupIndexStats, Readonly<DedupCounts> {
  readonly kind: 'dedup';
  /** The committed blobs. */
  readonly count: number;
  /** logical bytes / unique chunk bytes. */
  readonly dedupRatio: number;
  /** The same counts since the catalog was created (all daemons on this state dir); undefined without a catalog. */
  readonly lifetime: Readonly<DedupCounts> | undefined;
  readonly minSize: number;
  readonly normalSize: number;
  readonly maxSize: number;
}

export interface ExistenceCacheStats extends Holdings {
  readonly kind: 'existence_cache';
  /** Keys known to be present. */
  readonly count: number;
  readonly evictions: number;
  readonly lookups: number;
  readonly hits: number;
}

export interface CompletenessCheckingStats extends Holdings {
  readonly kind: 'completeness_checking';
  readonly checked: number;
  readonly hidden: number;
}

/** The named store reports its own numbers; a reference only says which it is. */
export interface RefStoreStats extends Holdings {
  readonly kind: 'ref_store';
  readonly name: string;
}

export interface ShardStats extends Holdings {
  readonly kind: 'shard';
  readonly shards: number;
}

export interface SizePartitioningStats extends Holdings {
  readonly kind: 'size_partitioning';
  readonly size: number;
}

export interface CloudObjectStats extends Holdings {
  readonly kind: 'experimental_cloud_object_store';
  readonly bucket: string;
  readonly keyPrefix: string;
  /** Requests sent, by S3 operation name (retries included). */
  readonly requests: Readonly<Record<string, number>>;
  readonly retries: number;
  readonly bytesUploaded: number;
  readonly bytesDownloaded: number;
  /** Multipart uploads that could not be aborted (their parts wait for a lifecycle rule). */
  readonly abortFailures: number;
  readonly inFlight: number;
  readonly queued: number;
}

export interface GrpcStats extends Holdings {
  readonly kind: 'grpc';
  readonly storeType: 'cas' | 'ac';
  readonly instanceName: string;
  /** The endpoints' addresses as configured. */
  readonly addresses: readonly string[];
  /** Upstream calls started (retries included), failed calls (a NOT_FOUND answer included), retries and resumed streams. */
  readonly requests: number;
  readonly errors: number;
  readonly retries: number;
  /** Bytes sent upstream (a resumed write's resent bytes again) and received from it. */
  readonly bytesUploaded: number;
  readonly bytesDownloaded: number;
}

/** Numbers a store reports about itself; wrappers report their own, their children report theirs. */
export type StoreStats =
  | MemoryStats
  | FilesystemStats
  | NoopStats
  | FastSlowStats
  | VerifyStats
  | CompressionStats
  | DedupStats
  | ExistenceCacheStats
  | CompletenessCheckingStats
  | RefStoreStats
  | ShardStats
  | SizePartitioningStats
  | CloudObjectStats
  | GrpcStats;

/** The stats of one kind. */
export type StatsOf<K extends StoreStats['kind']> = Extract<StoreStats, { readonly kind: K }>;

/** Narrows to one kind's stats (for a kind given as a value). */
export function isStatsOf<K extends StoreStats['kind']>(stats: StoreStats | undefined, kind: K): stats is StatsOf<K> {
  return stats?.kind === kind;
}
