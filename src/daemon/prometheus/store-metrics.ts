// Per store and tier: what each store's stats() reports (store-stats.ts), the
// same numbers `ncache stats` shows, read once per scrape. Kinds a metric does
// not know simply report no value for it, so a new store kind needs no change
// here to be scraped (its holdings are read like every kind's).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { NcacheConfig } from '../../config/types.js';
import type { StoreManager } from '../../stores/factory.js';
import type { StoreStats } from '../../stores/store-stats.js';
import { flatten, storeTree } from '../control/store-nodes.js';

const STORE_LABELS = ['store', 'path', 'kind', 'tier'] as const;
type StoreLabel = (typeof STORE_LABELS)[number];

/** One store of a tree as scraped: its labels and its stats. */
export interface ScrapedStore {
  readonly labels: Readonly<Record<StoreLabel, string>>;
  readonly stats: StoreStats;
}

/** Every store node that reports stats, named store by named store, root first. */
export function scrapeStores(config: Pick<NcacheConfig, 'stores'>, stores: StoreManager): ScrapedStore[] {
  const out: ScrapedStore[] = [];
  for (const named of config.stores) {
    for (const node of flatten(storeTree(stores, named))) {
      const stats = node.driver.stats?.();
      if (stats === undefined) continue;
      out.push({ labels: { store: named.name, path: node.path, kind: stats.kind, tier: node.tier ?? '' }, stats });
    }
  }
  return out;
}

/** A value, or several told apart by one extra label. */
type Reading = number | undefined | readonly (readonly [string, number])[];

interface StoreMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  /** The label that tells several values of one store apart. */
  readonly by?: string;
  read(stats: StoreStats): Reading;
}

const writeBehind = (st: StoreStats) => (st.kind === 'fast_slow' ? st.writeBehind : undefined);

const STORE_METRICS: readonly StoreMetric[] = [
  { name: 'ncache_store_size_bytes', type: 'gauge', help: 'Bytes the store holds (memory, filesystem; dedup: logical bytes of its blobs).', read: (st) => st.bytes },
  { name: 'ncache_store_max_size_bytes', type: 'gauge', help: 'The eviction limit max_bytes (0: unlimited).', read: (st) => st.maxBytes },
  { name: 'ncache_store_entries', type: 'gauge', help: 'Entries the store holds (blobs, action results, known keys for existence_cache).', read: (st) => st.count },
  { name: 'ncache_store_evictions_total', type: 'counter', help: 'Entries evicted by the eviction policy.', read: (st) => st.evictions },
  {
    name: 'ncache_fast_slow_reads_total',
    type: 'counter',
    by: 'result',
    help: 'Reads of a fast_slow store: fast_hit (fast tier), slow_hit (slow tier), miss (neither).',
    read: (st) => (st.kind === 'fast_slow' ? [['fast_hit', st.fastHits], ['slow_hit', st.slowHits], ['miss', st.misses]] : undefined),
  },
  { name: 'ncache_fast_slow_fills_total', type: 'counter', help: 'Values copied into the fast tier on a read from the slow tier.', read: (st) => (st.kind === 'fast_slow' ? st.fills : undefined) },
  { name: 'ncache_fast_slow_fill_failures_total', type: 'counter', help: 'Fills of the fast tier that failed.', read: (st) => (st.kind === 'fast_slow' ? st.fillFailures : undefined) },
  { name: 'ncache_fast_slow_slow_checks_total', type: 'counter', help: 'Keys whose existence was asked of the slow tier.', read: (st) => (st.kind === 'fast_slow' ? st.slowChecks : undefined) },
  { name: 'ncache_write_behind_backlog_blobs', type: 'gauge', help: 'Uploads owed to the slow tier (slow_write_mode "async").', read: (st) => writeBehind(st)?.backlogCount },
  { name: 'ncache_write_behind_backlog_bytes', type: 'gauge', help: 'Bytes of the uploads owed to the slow tier.', read: (st) => writeBehind(st)?.backlogBytes },
  {
    name: 'ncache_write_behind_oldest_age_seconds',
    type: 'gauge',
    help: 'Age of the oldest upload owed to the slow tier (0 when none is).',
    read: (st) => {
      const wb = writeBehind(st);
      return wb === undefined ? undefined : (wb.oldestAgeMs ?? 0) / 1000;
    },
  },
  { name: 'ncache_write_behind_uploads_in_progress', type: 'gauge', help: 'Owed uploads being copied to the slow tier now.', read: (st) => writeBehind(st)?.uploading },
  { name: 'ncache_write_behind_uploaded_total', type: 'counter', help: 'Owed uploads delivered to the slow tier.', read: (st) => writeBehind(st)?.uploaded },
  { name: 'ncache_write_behind_upload_failures_total', type: 'counter', help: 'Attempts to deliver an owed upload that failed (retried with backoff).', read: (st) => writeBehind(st)?.uploadFailures },
  { name: 'ncache_write_behind_sync_fallbacks_total', type: 'counter', help: 'Writes that went to both tiers synchronously because the backlog was full.', read: (st) => writeBehind(st)?.syncFallbacks },
  { name: 'ncache_write_behind_lost_total', type: 'counter', help: 'Owed uploads the fast tier evicted before they reached the slow tier.', read: (st) => writeBehind(st)?.lostBeforeUpload },
  {
    name: 'ncache_s3_requests_total',
    type: 'counter',
    by: 'operation',
    help: 'Requests sent to S3 by operation (PutObject, GetObject, ...), retries included.',
    read: (st) => (st.kind === 'experimental_cloud_object_store' ? Object.entries(st.requests) : undefined),
  },
  { name: 'ncache_s3_retries_total', type: 'counter', help: 'S3 requests retried.', read: (st) => (st.kind === 'experimental_cloud_object_store' ? st.retries : undefined) },
  { name: 'ncache_s3_sent_bytes_total', type: 'counter', help: 'Bytes uploaded to S3.', read: (st) => (st.kind === 'experimental_cloud_object_store' ? st.bytesUploaded : undefined) },
  { name: 'ncache_s3_received_bytes_total', type: 'counter', help: 'Bytes downloaded from S3.', read: (st) => (st.kind === 'experimental_cloud_object_store' ? st.bytesDownloaded : undefined) },
  { name: 'ncache_s3_requests_in_flight', type: 'gauge', help: 'S3 requests sent and not yet answered.', read: (st) => (st.kind === 'experimental_cloud_object_store' ? st.inFlight : undefined) },
  { name: 'ncache_s3_requests_queued', type: 'gauge', help: 'S3 requests waiting for the store\'s concurrency limit.', read: (st) => (st.kind === 'experimental_cloud_object_store' ? st.queued : undefined) },
  { name: 'ncache_s3_abort_failures_total', type: 'counter', help: 'Multipart uploads that could not be aborted.', read: (st) => (st.kind === 'experimental_cloud_object_store' ? st.abortFailures : undefined) },
  { name: 'ncache_upstream_requests_total', type: 'counter', help: 'Calls a grpc store started to its upstream REAPI server, retries included.', read: (st) => (st.kind === 'grpc' ? st.requests : undefined) },
  { name: 'ncache_upstream_errors_total', type: 'counter', help: 'Upstream calls of a grpc store that failed (a NOT_FOUND answer included).', read: (st) => (st.kind === 'grpc' ? st.errors : undefined) },
  { name: 'ncache_upstream_retries_total', type: 'counter', help: 'Upstream calls a grpc store retried, and streams it resumed.', read: (st) => (st.kind === 'grpc' ? st.retries : undefined) },
  { name: 'ncache_upstream_sent_bytes_total', type: 'counter', help: 'Bytes a grpc store sent upstream (a resumed write\'s resent bytes again).', read: (st) => (st.kind === 'grpc' ? st.bytesUploaded : undefined) },
  { name: 'ncache_upstream_received_bytes_total', type: 'counter', help: 'Bytes a grpc store received from its upstream.', read: (st) => (st.kind === 'grpc' ? st.bytesDownloaded : undefined) },
  { name: 'ncache_verify_rejected_total', type: 'counter', help: 'Uploads a verify store rejected (size or hash mismatch).', read: (st) => (st.kind === 'verify' ? st.rejected : undefined) },
  { name: 'ncache_existence_cache_lookups_total', type: 'counter', help: 'Existence checks an existence_cache answered or passed on.', read: (st) => (st.kind === 'existence_cache' ? st.lookups : undefined) },
  { name: 'ncache_existence_cache_hits_total', type: 'counter', help: 'Existence checks an existence_cache answered from memory.', read: (st) => (st.kind === 'existence_cache' ? st.hits : undefined) },
  { name: 'ncache_completeness_checked_total', type: 'counter', help: 'Action results a completeness_checking store checked.', read: (st) => (st.kind === 'completeness_checking' ? st.checked : undefined) },
  { name: 'ncache_completeness_hidden_total', type: 'counter', help: 'Action results hidden because an output was missing from the CAS.', read: (st) => (st.kind === 'completeness_checking' ? st.hidden : undefined) },
  { name: 'ncache_compression_logical_bytes_total', type: 'counter', help: 'Uncompressed bytes written through a compression store.', read: (st) => (st.kind === 'compression' ? st.logicalBytes : undefined) },
  { name: 'ncache_compression_stored_bytes_total', type: 'counter', help: 'Bytes a compression store wrote to its backend for them.', read: (st) => (st.kind === 'compression' ? st.storedBytes : undefined) },
  { name: 'ncache_dedup_logical_bytes_total', type: 'counter', help: 'Bytes of blobs written through a dedup store.', read: (st) => (st.kind === 'dedup' ? st.logicalBytesWritten : undefined) },
  { name: 'ncache_dedup_chunk_bytes_written_total', type: 'counter', help: 'Bytes of new chunks a dedup store wrote.', read: (st) => (st.kind === 'dedup' ? st.bytesWritten : undefined) },
  { name: 'ncache_dedup_chunk_bytes_reused_total', type: 'counter', help: 'Bytes of chunks a dedup store already held and did not write again.', read: (st) => (st.kind === 'dedup' ? st.bytesReused : undefined) },
];

/** Registers every store metric; `current` is the scrape's list of stores. */
export function registerStoreMetrics(registry: Registry, current: () => readonly ScrapedStore[]): void {
  for (const def of STORE_METRICS) {
    const labelNames = def.by === undefined ? [...STORE_LABELS] : [...STORE_LABELS, def.by];
    const each = (put: (labels: Record<string, string>, value: number) => void) => {
      for (const store of current()) {
        const reading = def.read(store.stats);
        if (typeof reading === 'number') put(store.labels, reading);
        else if (reading !== undefined && def.by !== undefined) {
          for (const [label, value] of reading) put({ ...store.labels, [def.by]: label }, value);
        }
      }
    };
    if (def.type === 'counter') {
      new Counter({ name: def.name, help: def.help, labelNames, registers: [registry], collect() { this.reset(); each((l, v) => this.inc(l, v)); } });
    } else {
      new Gauge({ name: def.name, help: def.help, labelNames, registers: [registry], collect() { this.reset(); each((l, v) => this.set(l, v)); } });
    }
  }
}
