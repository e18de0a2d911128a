// The normalized configuration: what src/config/schema.ts produces from a
// NativeLink-format JSON5 file after validation. Field names keep the JSON5
// spelling (snake_case) so a config key and its code read the same. Sizes are
// bytes, durations are seconds, paths are absolute with ~ expanded.

export interface EvictionPolicy {
  /** 0 = no limit on this axis. */
  max_bytes: number;
  /** Low watermark: once max_bytes is hit, evict until below max_bytes - evict_bytes. */
  evict_bytes: number;
  /** Entries not accessed for this many seconds are evicted. 0 = no limit. */
  max_seconds: number;
  max_count: number;
}

export interface RetrySpec {
  max_retries: number;
  /** Seconds before the first retry; doubles each retry. */
  delay: number;
  /** 0..1: each wait is multiplied by (1 + jitter * (rand - 0.5)). */
  jitter: number;
}

export interface MemorySpec {
  kind: 'memory';
  eviction_policy?: EvictionPolicy;
}

export interface FilesystemSpec {
  kind: 'filesystem';
  content_path: string;
  temp_path: string;
  read_buffer_size: number;
  block_size: number;
  eviction_policy?: EvictionPolicy;
}

export type StoreDirection = 'both' | 'update' | 'get' | 'read_only';

export interface FastSlowSpec {
  kind: 'fast_slow';
  fast: StoreSpec;
  slow: StoreSpec;
  fast_direction: StoreDirection;
  slow_direction: StoreDirection;
  /** ncache extension: how writes reach the slow tier. NativeLink writes both. */
  slow_write_mode?: 'sync' | 'async';
}

export interface VerifySpec {
  kind: 'verify';
  backend: StoreSpec;
  verify_size: boolean;
  verify_hash: boolean;
}

export interface NoopSpec {
  kind: 'noop';
}

export interface SizePartitioningSpec {
  kind: 'size_partitioning';
  /** Blobs smaller than this go to lower_store, the rest to upper_store. */
  size: number;
  lower_store: StoreSpec;
  upper_store: StoreSpec;
}

export interface CompletenessCheckingSpec {
  kind: 'completeness_checking';
  backend: StoreSpec;
  cas_store: StoreSpec;
}

export interface ExistenceCacheSpec {
  kind: 'existence_cache';
  backend: StoreSpec;
  eviction_policy?: EvictionPolicy;
}

export interface RefStoreSpec {
  kind: 'ref_store';
  name: string;
}

export interface ShardSpec {
  kind: 'shard';
  stores: { store: StoreSpec; weight: number }[];
}

export interface DedupSpec {
  kind: 'dedup';
  index_store: StoreSpec;
  content_store: StoreSpec;
  min_size: number;
  normal_size: number;
  max_size: number;
  max_concurrent_fetch_per_get: number;
}

export interface CompressionSpec {
  kind: 'compression';
  backend: StoreSpec;
  compression_algorithm: { lz4: { block_size: number; max_decode_block_size: number } };
}

export interface CloudObjectStoreSpec {
  kind: 'experimental_cloud_object_store';
  provider: 'aws';
  region: string;
  bucket: string;
  key_prefix: string;
  retry: RetrySpec;
  /** 0 = expired objects are never ignored. */
  consider_expired_after_s: number;
  max_retry_buffer_per_request: number;
  multipart_max_concurrent_uploads: number;
  additional_max_concurrent_requests: number;
  /** ncache extension: S3-compatible endpoint (MinIO, R2, Ceph, s3rver). */
  endpoint?: string;
  force_path_style: boolean;
  insecure_allow_http: boolean;
  disable_http2: boolean;
}

export type StoreSpec =
  | MemorySpec
  | FilesystemSpec
  | FastSlowSpec
  | VerifySpec
  | NoopSpec
  | SizePartitioningSpec
  | CompletenessCheckingSpec
  | ExistenceCacheSpec
  | RefStoreSpec
  | ShardSpec
  | DedupSpec
  | CompressionSpec
  | CloudObjectStoreSpec;

export type StoreKind = StoreSpec['kind'];

export interface NamedStoreSpec {
  name: string;
  spec: StoreSpec;
}

export type PropertyMatch = 'minimum' | 'exact' | 'priority' | 'ignore';

export interface SimpleSchedulerSpec {
  kind: 'simple';
  supported_platform_properties: Record<string, PropertyMatch>;
  retain_completed_for_s: number;
  client_action_timeout_s: number;
  worker_timeout_s: number;
  max_job_retries: number;
  allocation_strategy: 'least_recently_used' | 'most_recently_used';
}

export interface NamedSchedulerSpec {
  name: string;
  spec: SimpleSchedulerSpec;
}

export interface CasServiceSpec {
  instance_name: string;
  cas_store: string;
}

export interface AcServiceSpec {
  instance_name: string;
  ac_store: string;
  read_only: boolean;
}

export interface ExecutionServiceSpec {
  instance_name: string;
  cas_store: string;
  scheduler: string;
}

export interface CapabilitiesServiceSpec {
  instance_name: string;
  remote_execution?: { scheduler: string };
}

export interface ByteStreamServiceSpec {
  /** instance name -> store name */
  cas_stores: Record<string, string>;
  max_bytes_per_stream: number;
  /** Seconds a disconnected upload stays resumable. */
  persist_stream_on_disconnect_timeout: number;
}

export interface ServerSpec {
  name: string;
  listener: { http: { socket_address: string } };
  services: {
    cas?: CasServiceSpec[];
    ac?: AcServiceSpec[];
    execution?: ExecutionServiceSpec[];
    capabilities?: CapabilitiesServiceSpec[];
    bytestream?: ByteStreamServiceSpec;
    health?: Record<string, never>;
  };
}

export interface LocalWorkerSpec {
  kind: 'local';
  worker_api_endpoint: { uri: string };
  cas_fast_slow_store: string;
  work_directory: string;
  platform_properties: Record<string, { values: string[] }>;
  upload_action_result: { ac_store?: string };
  max_action_timeout: number;
}

export interface GlobalSpec {
  max_open_files: number;
  default_digest_hash_function: 'sha256';
  default_digest_size_health_check: number;
}

export interface NcacheConfig {
  stores: NamedStoreSpec[];
  schedulers: NamedSchedulerSpec[];
  servers: ServerSpec[];
  workers: LocalWorkerSpec[];
  global: GlobalSpec;
  /** Where this config came from ("<built-in default>" or a path), for messages. */
  source: string;
}
