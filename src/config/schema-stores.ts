// Store specs: `{ <kind>: { ...fields } }`, nested through wrapper kinds.
// Field names and defaults follow NativeLink's, so its configs load unchanged;
// ncache's own additions are marked as extensions.
import type {
  CloudObjectStoreSpec,
  CompressionSpec,
  DedupSpec,
  EvictionPolicy,
  FastSlowSpec,
  FilesystemSpec,
  NamedStoreSpec,
  RetrySpec,
  StoreDirection,
  StoreKind,
  StoreSpec,
} from './types.js';
import { type SpecOf, type StoreField, storeKindRow } from './store-kinds.js';
import { RETRY_DEFAULTS, retry } from './schema-retry.js';
import { grpcStore } from './schema-grpc-store.js';
import {
  array,
  bool,
  describe,
  duration,
  fsPath,
  int,
  isPlainObject,
  issue,
  joinKey,
  nearest,
  num,
  object,
  oneOf,
  type ReadContext,
  type Reader,
  readValue,
  refName,
  size,
  str,
  type Fields,
  url,
} from './reader.js';

export { RETRY_DEFAULTS, retry };

export const STORE_KINDS: readonly StoreKind[] = [
  'memory',
  'filesystem',
  'fast_slow',
  'verify',
  'noop',
  'size_partitioning',
  'completeness_checking',
  'existence_cache',
  'ref_store',
  'shard',
  'dedup',
  'compression',
  'experimental_cloud_object_store',
  'grpc',
];

/** NativeLink store kinds ncache does not have, with what to use instead. */
const UNSUPPORTED_KINDS: Record<string, string> = {
  redis_store: 'use filesystem or experimental_cloud_object_store',
  experimental_mongo: 'use filesystem or experimental_cloud_object_store',
  cache_metrics: 'remove the wrapper and use its backend directly',
  ontap_s3_existence_cache: 'use existence_cache over experimental_cloud_object_store',
};

// NativeLink's defaults.
const KIB = 1024;
export const FILESYSTEM_READ_BUFFER_SIZE = 32 * KIB;
export const FILESYSTEM_BLOCK_SIZE = 4 * KIB;
export const DEDUP_DEFAULTS = { min_size: 64 * KIB, normal_size: 256 * KIB, max_size: 512 * KIB, max_concurrent_fetch_per_get: 10 };
export const LZ4_BLOCK_SIZE = 64 * KIB;
export const CLOUD_DEFAULTS = {
  max_retry_buffer_per_request: 5 * KIB * KIB,
  multipart_max_concurrent_uploads: 10,
  additional_max_concurrent_requests: 20,
};
const DIRECTIONS: readonly StoreDirection[] = ['both', 'update', 'get', 'read_only'];

/** A store spec `{ <kind>: {...} }` at `path`. */
export const storeSpec: Reader<StoreSpec> = (ctx, value, path) => {
  if (!isPlainObject(value)) {
    return issue(ctx, path, `expected a store like { memory: {} } (one of: ${STORE_KINDS.join(', ')}), got ${describe(value)}`);
  }
  const kind = pickStoreKind(ctx, value, path, []);
  if (kind === undefined) return undefined;
  return readStoreKind(ctx, kind, value[kindKey(value, kind)], joinKey(path, kindKey(value, kind)));
};

/** One entry of the top-level `stores` array: `{ name, <kind>: {...} }`. */
export const namedStore: Reader<NamedStoreSpec> = (ctx, value, path) => {
  if (!isPlainObject(value)) {
    return issue(ctx, path, `expected a store like { name: "CAS", memory: {} }, got ${describe(value)}`);
  }
  let name: string | undefined;
  if (!('name' in value)) issue(ctx, joinKey(path, 'name'), 'missing required field (every store needs a name)');
  else name = readValue(ctx, value.name, joinKey(path, 'name'), str({ nonEmpty: true }));
  const kind = pickStoreKind(ctx, value, path, ['name']);
  // Keep the name of a store whose kind is wrong, so references to it do not pile on more errors.
  if (kind === undefined) return name === undefined ? undefined : { name, spec: undefined as never };
  const key = kindKey(value, kind);
  const previous = ctx.currentStore;
  ctx.currentStore = name;
  try {
    const spec = readStoreKind(ctx, kind, value[key], joinKey(path, key));
    return { name: name as string, spec: spec as StoreSpec };
  } finally {
    ctx.currentStore = previous;
  }
};

/** Old NativeLink spelling of an S3 store, read as experimental_cloud_object_store with provider "aws". */
const LEGACY_S3_KIND = 'experimental_s3_store';

function kindKey(value: Record<string, unknown>, kind: StoreKind): string {
  return kind === 'experimental_cloud_object_store' && !(kind in value) ? LEGACY_S3_KIND : kind;
}

/** Finds the one kind key among `value`'s keys, reporting none, several, or unknown ones. */
function pickStoreKind(
  ctx: ReadContext,
  value: Record<string, unknown>,
  path: string,
  otherKeys: string[],
): StoreKind | undefined {
  const kinds: StoreKind[] = [];
  let reported = false;
  for (const key of Object.keys(value)) {
    if (otherKeys.includes(key)) continue;
    if ((STORE_KINDS as readonly string[]).includes(key)) kinds.push(key as StoreKind);
    else if (key === LEGACY_S3_KIND) kinds.push('experimental_cloud_object_store');
    else if (key in UNSUPPORTED_KINDS) {
      reported = true;
      issue(ctx, joinKey(path, key), `store kind "${key}" is not supported by ncache (${UNSUPPORTED_KINDS[key]})`);
    } else {
      reported = true;
      const near = nearest(key, [...STORE_KINDS, ...otherKeys]);
      issue(
        ctx,
        joinKey(path, key),
        near ? `unknown store kind or field (did you mean "${near}"?)` : `unknown store kind (expected one of: ${STORE_KINDS.join(', ')})`,
      );
    }
  }
  if (kinds.length > 1) {
    return issue(ctx, path, `a store has exactly one kind, got ${kinds.map((k) => `"${k}"`).join(' and ')}`);
  }
  if (kinds.length === 0) {
    if (!reported) issue(ctx, path, `missing store kind (expected one of: ${STORE_KINDS.join(', ')})`);
    return undefined;
  }
  return kinds[0];
}

function readStoreKind(ctx: ReadContext, kind: StoreKind, body: unknown, path: string): StoreSpec | undefined {
  switch (kind) {
    case 'memory':
      return object((f) => ({ kind, eviction_policy: f.maybe('eviction_policy', evictionPolicy) }))(ctx, body, path);
    case 'filesystem':
      return filesystem(ctx, body, path);
    case 'fast_slow':
      return fastSlow(ctx, body, path);
    case 'verify':
      return object((f) => ({
        kind,
        ...childStores(f, kind),
        verify_size: f.opt('verify_size', bool, false),
        verify_hash: f.opt('verify_hash', bool, false),
      }))(ctx, body, path);
    case 'noop':
      return object(() => ({ kind }))(ctx, body, path);
    case 'size_partitioning':
      return object((f) => ({
        kind,
        size: f.req('size', size(), 'a size like "128mib"'),
        ...childStores(f, kind),
      }))(ctx, body, path);
    case 'completeness_checking':
      return object((f) => ({ kind, ...childStores(f, kind) }))(ctx, body, path);
    case 'existence_cache':
      return object((f) => ({
        kind,
        ...childStores(f, kind),
        eviction_policy: f.maybe('eviction_policy', evictionPolicy),
      }))(ctx, body, path);
    case 'ref_store':
      return object((f) => ({ kind, name: f.req('name', refName('store'), 'the name of a store in "stores"') }))(
        ctx,
        body,
        path,
      );
    case 'shard':
      return object((f) => ({
        kind,
        stores: f.req(
          'stores',
          array(
            object((s) => ({ store: s.req('store', storeSpec, 'a store'), weight: s.opt('weight', int({ min: 1 }), 1) })),
            { nonEmpty: true },
          ),
          'an array of { store, weight }',
        ),
      }))(ctx, body, path);
    case 'dedup':
      return dedup(ctx, body, path);
    case 'compression':
      return compression(ctx, body, path);
    case 'experimental_cloud_object_store':
      return cloudObjectStore(ctx, body, path);
    case 'grpc':
      return grpcStore(ctx, body, path);
  }
}

/**
 * The child store fields of `kind` (`backend`, `fast`, ...), read where the
 * table of store kinds says they are. A list of children (shard's `stores`)
 * has entry fields of its own and is read by its kind.
 */
function childStores<K extends StoreKind>(f: Fields, kind: K): Pick<SpecOf<K>, StoreField<SpecOf<K>>> {
  const row = storeKindRow(kind);
  const out: Partial<Record<string, StoreSpec>> = {};
  if (row.role === 'wrapper' || row.role === 'split') {
    for (const slot of row.children) if ('field' in slot) out[slot.field] = f.req(slot.field, storeSpec, slot.hint);
  }
  // The table's fields are exactly the spec's store fields (test/config/store-kinds.test.ts checks each kind).
  return out as Pick<SpecOf<K>, StoreField<SpecOf<K>>>;
}

export const evictionPolicy: Reader<EvictionPolicy> = (ctx, value, path) => {
  const policy = object((f) => ({
    max_bytes: f.opt('max_bytes', size(), 0),
    evict_bytes: f.opt('evict_bytes', size(), 0),
    max_seconds: f.opt('max_seconds', duration(), 0),
    max_count: f.opt('max_count', int(), 0),
  }))(ctx, value, path);
  if (policy && policy.max_bytes > 0 && policy.evict_bytes > policy.max_bytes) {
    issue(ctx, joinKey(path, 'evict_bytes'), `must not exceed max_bytes (${policy.max_bytes}), got ${policy.evict_bytes}`);
  }
  return policy;
};

// Shared directories (within or across filesystem stores) are checked in schema.ts.
const filesystem: Reader<FilesystemSpec> = object<FilesystemSpec>((f) => {
  const out: FilesystemSpec = {
    kind: 'filesystem',
    content_path: f.req('content_path', fsPath, 'a directory path'),
    temp_path: f.req('temp_path', fsPath, 'a directory path on the same filesystem as content_path'),
    read_buffer_size: f.opt('read_buffer_size', size({ min: 1 }), FILESYSTEM_READ_BUFFER_SIZE),
    block_size: f.opt('block_size', size({ min: 1 }), FILESYSTEM_BLOCK_SIZE),
    eviction_policy: f.maybe('eviction_policy', evictionPolicy),
  };
  const maxWrites = f.maybe('max_concurrent_writes', int());
  if (maxWrites !== undefined) out.max_concurrent_writes = maxWrites;
  const evictPageCache = f.maybe('evict_page_cache', bool);
  if (evictPageCache !== undefined) out.evict_page_cache = evictPageCache;
  return out;
});

const fastSlow: Reader<FastSlowSpec> = object<FastSlowSpec>((f) => {
  const out: FastSlowSpec = {
    kind: 'fast_slow',
    ...childStores(f, 'fast_slow'),
    fast_direction: f.opt('fast_direction', oneOf(DIRECTIONS), 'both'),
    slow_direction: f.opt('slow_direction', oneOf(DIRECTIONS), 'both'),
    // ncache extension: "async" acknowledges a write once the fast tier has it.
    slow_write_mode: f.opt('slow_write_mode', oneOf(['sync', 'async'] as const), 'sync'),
  };
  const bypass = f.maybe('bypass_dedup_threshold_bytes', size());
  if (bypass !== undefined) out.bypass_dedup_threshold_bytes = bypass;
  return out;
});

const dedup: Reader<DedupSpec> = (ctx, value, path) => {
  const spec = object<DedupSpec>((f) => ({
    kind: 'dedup',
    ...childStores(f, 'dedup'),
    min_size: f.opt('min_size', size({ min: 1 }), DEDUP_DEFAULTS.min_size),
    normal_size: f.opt('normal_size', size({ min: 1 }), DEDUP_DEFAULTS.normal_size),
    max_size: f.opt('max_size', size({ min: 1 }), DEDUP_DEFAULTS.max_size),
    max_concurrent_fetch_per_get: f.opt('max_concurrent_fetch_per_get', int({ min: 1 }), DEDUP_DEFAULTS.max_concurrent_fetch_per_get),
  }))(ctx, value, path);
  if (spec && !(spec.min_size <= spec.normal_size && spec.normal_size <= spec.max_size)) {
    issue(
      ctx,
      path,
      `chunk sizes must satisfy min_size <= normal_size <= max_size, got ${spec.min_size} / ${spec.normal_size} / ${spec.max_size}`,
    );
  }
  return spec;
};

const compression: Reader<CompressionSpec> = object<CompressionSpec>((f) => ({
  kind: 'compression',
  ...childStores(f, 'compression'),
  compression_algorithm: f.req('compression_algorithm', compressionAlgorithm, '{ lz4: {} }'),
}));

const compressionAlgorithm: Reader<CompressionSpec['compression_algorithm']> = object((f) => {
  const others = Object.keys(f.raw).filter((k) => k !== 'lz4');
  for (const key of others) f.reject(key, `compression algorithm "${key}" is not supported (ncache has lz4)`);
  if (others.length > 0 && !f.has('lz4')) return undefined as never;
  return { lz4: f.req('lz4', lz4Config, '{} or { block_size: "64kib" }') };
});

const lz4Config = object((f) => {
  const block_size = f.opt('block_size', size({ min: 1 }), LZ4_BLOCK_SIZE);
  // NativeLink: the decode limit defaults to the block size.
  const max_decode_block_size = f.opt('max_decode_block_size', size({ min: 1 }), block_size);
  if (max_decode_block_size !== undefined && block_size !== undefined && max_decode_block_size < block_size) {
    issue(f.ctx, f.at('max_decode_block_size'), `must be at least block_size (${block_size}), got ${max_decode_block_size}`);
  }
  return { block_size, max_decode_block_size };
});

const PROVIDERS_ELSEWHERE = ['gcs', 'azure', 'ontap', 'r2', 'oci'];

const cloudObjectStore: Reader<CloudObjectStoreSpec> = (ctx, value, path) =>
  object<CloudObjectStoreSpec>((f) => {
    // The legacy experimental_s3_store had no provider field; it is always S3.
    const provider = f.has('provider') ? f.req('provider', providerReader, '"aws"') : ('aws' as const);
    const spec: CloudObjectStoreSpec = {
      kind: 'experimental_cloud_object_store',
      provider,
      region: f.opt('region', str(), ''),
      bucket: f.req('bucket', str({ nonEmpty: true }), 'an S3 bucket name'),
      key_prefix: f.opt('key_prefix', str(), ''),
      retry: f.opt('retry', retry, { ...RETRY_DEFAULTS }),
      consider_expired_after_s: f.opt('consider_expired_after_s', duration(), 0),
      max_retry_buffer_per_request: f.opt('max_retry_buffer_per_request', size(), CLOUD_DEFAULTS.max_retry_buffer_per_request),
      multipart_max_concurrent_uploads: f.opt(
        'multipart_max_concurrent_uploads',
        int({ min: 1 }),
        CLOUD_DEFAULTS.multipart_max_concurrent_uploads,
      ),
      additional_max_concurrent_requests: f.opt(
        'additional_max_concurrent_requests',
        int({ min: 1 }),
        CLOUD_DEFAULTS.additional_max_concurrent_requests,
      ),
      force_path_style: f.opt('force_path_style', bool, false),
      insecure_allow_http: f.opt('insecure_allow_http', bool, false),
      disable_http2: f.opt('disable_http2', bool, false),
    };
    // ncache extension: an S3-compatible endpoint (MinIO, R2, Ceph, s3rver).
    const endpoint = f.maybe('endpoint', endpointReader);
    if (endpoint !== undefined) spec.endpoint = endpoint;
    // Plain HTTP to this machine (MinIO, s3rver) is fine; across a network it needs an explicit opt-in.
    if (endpoint?.startsWith('http://') && !spec.insecure_allow_http && !isLoopbackUrl(endpoint)) {
      issue(ctx, f.at('endpoint'), `${endpoint} is unencrypted http://; set insecure_allow_http: true to allow it`);
    }
    return spec;
  })(ctx, value, path);

const providerReader: Reader<'aws'> = (ctx, value, path) => {
  if (value === 'aws') return 'aws';
  if (typeof value === 'string' && PROVIDERS_ELSEWHERE.includes(value)) {
    return issue(
      ctx,
      path,
      `provider "${value}" is not supported by ncache (only "aws"; for another S3-compatible service use provider "aws" with endpoint)`,
    );
  }
  return issue(ctx, path, `expected "aws", got ${describe(value)}`);
};

const endpointReader = url({
  protocols: ['http:', 'https:'],
  example: 'https://s3.example.com:9000',
  schemeHint: 'an http:// or https:// URL',
});

function isLoopbackUrl(text: string): boolean {
  const host = new URL(text).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}
