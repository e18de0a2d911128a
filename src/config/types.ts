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
  /** gRPC code names to retry on (e.g. "Unavailable"); absent = the usual transient ones. */
  retry_on_errors?: string[];
}

/** NativeLink's ClientTlsConfig: how a grpcs:// upstream is trusted and whom ncache presents as. */
export interface UpstreamTlsSpec {
  /** PEM CA bundle trusted for the upstream's certificate; absent: the default roots. */
  ca_file?: string;
  /** Client certificate chain and key (mTLS); both or neither. */
  cert_file?: string;
  key_file?: string;
  /** Also trust the default roots when ca_file is given. */
  use_native_roots: boolean;
}

/** NativeLink's GrpcEndpoint: one upstream REAPI server. */
export interface UpstreamEndpointSpec {
  /** "grpc://host:port" or "grpcs://host[:port]" as written. */
  address: string;
  tls_config?: UpstreamTlsSpec;
  /** Calls in flight to this endpoint; 0 = no limit of its own. */
  concurrency_limit: number;
  /** HTTP/2 PING interval and timeout in seconds; 0 = grpc-js's default (no pings). */
  http2_keepalive_interval_s: number;
  http2_keepalive_timeout_s: number;
}

/** The connection to an upstream REAPI service, shared by the grpc store and the grpc scheduler. */
export interface UpstreamConnectionSpec {
  endpoints: UpstreamEndpointSpec[];
  retry: RetrySpec;
  /** Calls in flight across all endpoints; 0 = unlimited. */
  max_concurrent_requests: number;
  /** grpc-js channels (TCP connections) per endpoint, used in turn. */
  connections_per_endpoint: number;
  /** Deadline of each unary call in seconds; 0 = none. */
  rpc_timeout_s: number;
  /** ncache extension: a file whose trimmed content is sent as `authorization: Bearer <token>`. */
  token_file?: string;
  /** Static metadata sent with every call (NativeLink's `headers`). */
  headers: Record<string, string>;
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
  /** NativeLink: cap on concurrent writes; 0 = unlimited. */
  max_concurrent_writes?: number;
  /** NativeLink: drop each blob from the page cache after I/O. */
  evict_page_cache?: boolean;
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
  /** NativeLink: reads of blobs at least this big skip the fast tier; 0 = never. */
  bypass_dedup_threshold_bytes?: number;
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
  /** "" = let the AWS SDK pick (AWS_REGION, profile), as NativeLink's default does. */
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

/** NativeLink's `grpc` store: another REAPI server's CAS or AC. */
export interface GrpcStoreSpec extends UpstreamConnectionSpec {
  kind: 'grpc';
  /** The instance named in every upstream call ("" is the default instance). */
  instance_name: string;
  store_type: 'cas' | 'ac';
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
  | CloudObjectStoreSpec
  | GrpcStoreSpec;

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
  /** Seconds an executing action may go without a worker update; 0 = no limit. */
  max_action_executing_timeout_s?: number;
  /** Seconds between "no worker matches" log lines; -1 = never. */
  worker_match_logging_interval_s?: number;
}

/** NativeLink's PropertyModification: one step of a property_modifier scheduler. */
export type PropertyModification =
  | { add: { name: string; value: string } }
  | { remove: string }
  | { replace: { name: string; value?: string; new_name: string; new_value?: string } };

/** Looks each action up in `ac_store`; a miss goes to the nested scheduler. */
export interface CacheLookupSchedulerSpec {
  kind: 'cache_lookup';
  ac_store: string;
  scheduler: SchedulerSpec;
}

/** Changes each action's platform properties, in order, before the nested scheduler sees it. */
export interface PropertyModifierSchedulerSpec {
  kind: 'property_modifier';
  modifications: PropertyModification[];
  scheduler: SchedulerSpec;
}

/**
 * Forwards every action to an upstream Execution service. `connection` holds
 * NativeLink's `endpoint` (as its only endpoint), `retry`,
 * `max_concurrent_requests` and `connections_per_endpoint`, plus the keys
 * the grpc store shares (token_file, headers, rpc_timeout_s).
 */
export interface GrpcSchedulerSpec {
  kind: 'grpc';
  connection: UpstreamConnectionSpec;
}

export type SchedulerSpec = SimpleSchedulerSpec | GrpcSchedulerSpec | CacheLookupSchedulerSpec | PropertyModifierSchedulerSpec;
export type SchedulerKind = SchedulerSpec['kind'];

export interface NamedSchedulerSpec {
  name: string;
  spec: SchedulerSpec;
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
  /** Largest inbound gRPC message to decode, in bytes. */
  max_decoding_message_size?: number;
}

/**
 * NativeLink services ncache accepts (so copied configs load) but does not
 * serve yet; collectWarnings names each one present.
 */
export interface WorkerApiServiceSpec {
  scheduler: string;
}

export interface FetchServiceSpec {
  instance_name: string;
  fetch_store: string;
}

export interface PushServiceSpec {
  instance_name: string;
  push_store: string;
  read_only: boolean;
}

/** A listener's TLS files (NativeLink's keys), as absolute paths; read again whenever they change. */
export interface ListenerTlsSpec {
  /** The server's certificate chain, PEM, leaf first. */
  cert_file: string;
  /** The private key of the leaf certificate, PEM, unencrypted. */
  key_file: string;
  /** Set: every client must present a certificate signed by one of these CAs (mTLS). */
  client_ca_file?: string;
  /** Client certificates revoked by their CA (PEM CRLs); only with client_ca_file. */
  client_crl_file?: string;
}

/** `listener.http.limits` as written (sizes in bytes, timeouts in seconds); defaults live in src/daemon/limits.ts. */
export interface HttpListenerLimits {
  /** Largest gRPC message the listener sends. */
  max_encoding_message_size?: number;
  /** Largest blob one ByteStream Write or BatchUpdateBlobs entry may declare. */
  max_upload_size?: number;
  /** A connection with no call for this long is closed. */
  idle_timeout?: number;
  /** A ByteStream Write that sends no bytes for this long is dropped, nothing committed. */
  upload_stall_timeout?: number;
}

/**
 * `servers[].listener.http.auth`: who may call this listener (src/daemon/auth/).
 * The tokens file holds one `TOKEN [read|write]` per line and must be 0600.
 */
export interface ListenerAuthSpec {
  /** Absolute; a relative path in the config resolves against the config file's directory. */
  tokens_file: string;
  /** Calls without an authorization header may read (never write). Default false. */
  allow_unauthenticated_reads: boolean;
}

export interface ServerSpec {
  name: string;
  listener: {
    http: {
      socket_address: string;
      /** Accepted from NativeLink configs; ncache does not compress the gRPC transport. */
      compression?: { send_compression_algorithm: 'none' | 'gzip' | 'zstd'; accepted_compression_algorithms: ('none' | 'gzip' | 'zstd')[] };
      /** NativeLink's hyper tuning; ncache applies experimental_http2_max_concurrent_streams, the rest is type-checked only. */
      advanced_http?: Record<string, number | boolean>;
      /** Serve TLS (grpcs://); absent: plaintext. */
      tls?: ListenerTlsSpec;
      /** Largest gRPC message this listener decodes (NativeLink's key); unset: ncache's default (src/daemon/limits.ts). */
      max_decoding_message_size?: number;
      /** ncache extension: what one client of this listener can make the daemon hold; unset keys take the defaults. */
      limits?: HttpListenerLimits;
      /** ncache extension (NativeLink has no such key): bearer tokens required on every call. */
      auth?: ListenerAuthSpec;
    };
    /**
     * Set when the config said `http_cache` instead of `http`: the listener
     * speaks Bazel's HTTP/1.1 cache protocol (src/daemon/http-cache/), not
     * gRPC, and `http` holds its socket_address, tls, limits and auth.
     */
    protocol?: 'http_cache';
  };
  services: {
    cas?: CasServiceSpec[];
    ac?: AcServiceSpec[];
    execution?: ExecutionServiceSpec[];
    capabilities?: CapabilitiesServiceSpec[];
    bytestream?: ByteStreamServiceSpec;
    health?: Record<string, never>;
    /** Accepted for NativeLink compatibility, not served (see collectWarnings). */
    worker_api?: WorkerApiServiceSpec;
    admin?: { path: string };
    experimental_prometheus?: { path: string };
    fetch?: FetchServiceSpec[];
    push?: PushServiceSpec[];
    experimental_bep?: { store: string };
  };
}

export type UploadResultsStrategy = 'success_only' | 'never' | 'everything' | 'failures_only';

/** Where an action's environment variable gets its value (NativeLink's EnvironmentSource). */
export type EnvironmentSource =
  | { property: string }
  | { value: string }
  | 'timeout_millis'
  | 'side_channel_file'
  | 'action_directory';

export interface LocalWorkerSpec {
  kind: 'local';
  worker_api_endpoint: { uri: string; /** seconds */ timeout?: number };
  cas_fast_slow_store: string;
  work_directory: string;
  platform_properties: Record<string, { values: string[] }>;
  upload_action_result: {
    ac_store?: string;
    upload_ac_results_strategy?: UploadResultsStrategy;
    historical_results_store?: string;
    upload_historical_results_strategy?: UploadResultsStrategy;
    success_message_template?: string;
    failure_message_template?: string;
  };
  max_action_timeout: number;
  /** For logs; defaults to the worker's index. */
  name?: string;
  /** Command prefix run for every action ("" = run the action's command as is). */
  entrypoint?: string;
  timeout_handled_externally?: boolean;
  additional_environment?: Record<string, EnvironmentSource>;
  experimental_precondition_script?: string;
  /** ncache extension: keep the directory of a failed action (renamed "failed-…") for inspection. Default false. */
  keep_failed_action_directories?: boolean;
  /** ncache extension: deepest input tree accepted (directory levels). Default in src/worker/input-tree.ts. */
  max_input_tree_depth?: number;
  /** ncache extension: most input tree entries (files, directories, symlinks) accepted. Default in src/worker/input-tree.ts. */
  max_input_tree_entries?: number;
}

export interface GlobalSpec {
  max_open_files: number;
  default_digest_hash_function: 'sha256';
  default_digest_size_health_check: number;
  /** NativeLink: idle file descriptors close after this many ms. */
  idle_file_descriptor_timeout_millis?: number;
  disable_metrics?: boolean;
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
