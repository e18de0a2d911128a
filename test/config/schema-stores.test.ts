// Every store kind validates, with NativeLink's defaults filled in.
import { describe, expect, it } from 'vitest';
import { firstStore, issuesOf, withStore } from './helpers.js';

const mem = { memory: {} };

describe('leaf stores', () => {
  it('memory, with and without an eviction policy', () => {
    expect(firstStore(withStore({ memory: {} }))).toEqual({ kind: 'memory', eviction_policy: undefined });
    expect(firstStore(withStore({ memory: { eviction_policy: { max_bytes: '1gb', evict_bytes: '100mb', max_seconds: '1d', max_count: 1000 } } }))).toEqual({
      kind: 'memory',
      eviction_policy: { max_bytes: 1e9, evict_bytes: 1e8, max_seconds: 86_400, max_count: 1000 },
    });
  });

  it('eviction_policy fields default to 0 (no limit) and evict_bytes may not exceed max_bytes', () => {
    expect(firstStore(withStore({ memory: { eviction_policy: {} } }))).toEqual({
      kind: 'memory',
      eviction_policy: { max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: 0 },
    });
    expect(issuesOf(withStore({ memory: { eviction_policy: { max_bytes: '1mb', evict_bytes: '2mb' } } }))).toEqual([
      'stores[0].memory.eviction_policy.evict_bytes: must not exceed max_bytes (1000000), got 2000000',
    ]);
  });

  it('filesystem, with defaults read_buffer_size 32 KiB and block_size 4 KiB', () => {
    expect(firstStore(withStore({ filesystem: { content_path: '/c', temp_path: '/t' } }))).toEqual({
      kind: 'filesystem',
      content_path: '/c',
      temp_path: '/t',
      read_buffer_size: 32_768,
      block_size: 4096,
      eviction_policy: undefined,
    });
    const full = firstStore(
      withStore({
        filesystem: {
          content_path: '/c',
          temp_path: '/t',
          read_buffer_size: '1mib',
          block_size: 512,
          eviction_policy: { max_bytes: '2gb' },
          max_concurrent_writes: 4,
          evict_page_cache: true,
        },
      }),
    );
    expect(full).toMatchObject({ read_buffer_size: 1_048_576, block_size: 512, max_concurrent_writes: 4, evict_page_cache: true });
    expect(issuesOf(withStore({ filesystem: { content_path: '/c' } }))).toEqual([
      'stores[0].filesystem.temp_path: missing required field (expected a directory path on the same filesystem as content_path)',
    ]);
  });

  it('noop takes no fields', () => {
    expect(firstStore(withStore({ noop: {} }))).toEqual({ kind: 'noop' });
    expect(issuesOf(withStore({ noop: { x: 1 } }))).toEqual(['stores[0].noop.x: unknown field (expected no fields here)']);
  });
});

describe('wrapper stores', () => {
  it('fast_slow defaults both directions to "both" and slow_write_mode to "sync"', () => {
    expect(firstStore(withStore({ fast_slow: { fast: mem, slow: { noop: {} } } }))).toEqual({
      kind: 'fast_slow',
      fast: { kind: 'memory', eviction_policy: undefined },
      slow: { kind: 'noop' },
      fast_direction: 'both',
      slow_direction: 'both',
      slow_write_mode: 'sync',
    });
    expect(
      firstStore(
        withStore({
          fast_slow: { fast: mem, slow: mem, fast_direction: 'get', slow_direction: 'read_only', slow_write_mode: 'async', bypass_dedup_threshold_bytes: '256mib' },
        }),
      ),
    ).toMatchObject({ fast_direction: 'get', slow_direction: 'read_only', slow_write_mode: 'async', bypass_dedup_threshold_bytes: 256 * 2 ** 20 });
  });

  it('verify defaults both checks to false, like NativeLink', () => {
    expect(firstStore(withStore({ verify: { backend: mem } }))).toEqual({
      kind: 'verify',
      backend: { kind: 'memory', eviction_policy: undefined },
      verify_size: false,
      verify_hash: false,
    });
  });

  it('size_partitioning needs a size and both stores', () => {
    expect(firstStore(withStore({ size_partitioning: { size: '128mib', lower_store: mem, upper_store: { noop: {} } } }))).toMatchObject({
      kind: 'size_partitioning',
      size: 128 * 2 ** 20,
      upper_store: { kind: 'noop' },
    });
    expect(issuesOf(withStore({ size_partitioning: { lower_store: mem } }))).toEqual([
      'stores[0].size_partitioning.size: missing required field (expected a size like "128mib")',
      'stores[0].size_partitioning.upper_store: missing required field (expected a store)',
    ]);
  });

  it('completeness_checking and existence_cache', () => {
    expect(firstStore(withStore({ completeness_checking: { backend: mem, cas_store: { noop: {} } } }))).toMatchObject({
      kind: 'completeness_checking',
      cas_store: { kind: 'noop' },
    });
    expect(firstStore(withStore({ existence_cache: { backend: mem, eviction_policy: { max_seconds: 100 } } }))).toMatchObject({
      kind: 'existence_cache',
      eviction_policy: { max_seconds: 100 },
    });
  });

  it('ref_store names another top-level store', () => {
    const c = withStore({ verify: { backend: { ref_store: { name: 'BACK' } }, verify_hash: true } });
    c.stores.push({ name: 'BACK', memory: {} });
    expect(firstStore(c)).toEqual({ kind: 'verify', backend: { kind: 'ref_store', name: 'BACK' }, verify_size: false, verify_hash: true });
    expect(issuesOf(withStore({ ref_store: {} }))).toEqual([
      'stores[0].ref_store.name: missing required field (expected the name of a store in "stores")',
    ]);
  });

  it('shard entries (weight defaults to 1)', () => {
    expect(firstStore(withStore({ shard: { stores: [{ store: mem }, { store: { noop: {} }, weight: 3 }] } }))).toEqual({
      kind: 'shard',
      stores: [
        { store: { kind: 'memory', eviction_policy: undefined }, weight: 1 },
        { store: { kind: 'noop' }, weight: 3 },
      ],
    });
    expect(issuesOf(withStore({ shard: { stores: [] } }))).toEqual(['stores[0].shard.stores: expected at least one entry, got an empty array']);
    expect(issuesOf(withStore({ shard: { stores: [{ store: mem, weight: 0 }, { weight: 1 }] } }))).toEqual([
      'stores[0].shard.stores[0].weight: expected a whole number of at least 1, got 0',
      'stores[0].shard.stores[1].store: missing required field (expected a store)',
    ]);
  });

  it('dedup defaults to 64 KiB / 256 KiB / 512 KiB chunks and 10 fetches per get', () => {
    expect(firstStore(withStore({ dedup: { index_store: mem, content_store: mem } }))).toMatchObject({
      kind: 'dedup',
      min_size: 65_536,
      normal_size: 262_144,
      max_size: 524_288,
      max_concurrent_fetch_per_get: 10,
    });
    expect(
      firstStore(withStore({ dedup: { index_store: mem, content_store: mem, min_size: '8kib', normal_size: '16kib', max_size: '32kib', max_concurrent_fetch_per_get: 2 } })),
    ).toMatchObject({ min_size: 8192, normal_size: 16_384, max_size: 32_768, max_concurrent_fetch_per_get: 2 });
    expect(issuesOf(withStore({ dedup: { index_store: mem, content_store: mem, normal_size: '1mib' } }))).toEqual([
      'stores[0].dedup: chunk sizes must satisfy min_size <= normal_size <= max_size, got 65536 / 1048576 / 524288',
    ]);
  });

  it('compression: lz4 block_size defaults to 64 KiB and max_decode_block_size to block_size', () => {
    expect(firstStore(withStore({ compression: { compression_algorithm: { lz4: {} }, backend: mem } }))).toMatchObject({
      kind: 'compression',
      compression_algorithm: { lz4: { block_size: 65_536, max_decode_block_size: 65_536 } },
    });
    expect(firstStore(withStore({ compression: { compression_algorithm: { lz4: { block_size: '1mib' } }, backend: mem } }))).toMatchObject({
      compression_algorithm: { lz4: { block_size: 1_048_576, max_decode_block_size: 1_048_576 } },
    });
    expect(issuesOf(withStore({ compression: { compression_algorithm: { zstd: {} }, backend: mem } }))).toEqual([
      'stores[0].compression.compression_algorithm.zstd: compression algorithm "zstd" is not supported (ncache has lz4)',
    ]);
    expect(issuesOf(withStore({ compression: { compression_algorithm: { lz4: { block_size: '1mb', max_decode_block_size: '1kb' } }, backend: mem } }))).toEqual([
      'stores[0].compression.compression_algorithm.lz4.max_decode_block_size: must be at least block_size (1000000), got 1000',
    ]);
    expect(issuesOf(withStore({ compression: { backend: mem } }))).toEqual([
      'stores[0].compression.compression_algorithm: missing required field (expected { lz4: {} })',
    ]);
  });
});

describe('experimental_cloud_object_store', () => {
  const s3 = (fields: Record<string, unknown>) => withStore({ experimental_cloud_object_store: { provider: 'aws', bucket: 'bkt', ...fields } });

  it('fills NativeLink defaults', () => {
    expect(firstStore(s3({}))).toEqual({
      kind: 'experimental_cloud_object_store',
      provider: 'aws',
      region: '',
      bucket: 'bkt',
      key_prefix: '',
      retry: { max_retries: 0, delay: 0, jitter: 0 },
      consider_expired_after_s: 0,
      max_retry_buffer_per_request: 5 * 1024 * 1024,
      multipart_max_concurrent_uploads: 10,
      additional_max_concurrent_requests: 20,
      force_path_style: false,
      insecure_allow_http: false,
      disable_http2: false,
    });
  });

  it('reads every field, including the ncache endpoint extension', () => {
    expect(
      firstStore(
        s3({
          region: 'eu-central-1',
          key_prefix: 'cas/',
          retry: { max_retries: 6, delay: 0.3, jitter: 0.5, retry_on_errors: ['Unavailable', 'Internal'] },
          consider_expired_after_s: '30d',
          max_retry_buffer_per_request: '10mb',
          multipart_max_concurrent_uploads: 4,
          additional_max_concurrent_requests: 100,
          endpoint: 'https://minio.internal:9000',
          force_path_style: true,
          disable_http2: true,
        }),
      ),
    ).toMatchObject({
      region: 'eu-central-1',
      key_prefix: 'cas/',
      retry: { max_retries: 6, delay: 0.3, jitter: 0.5, retry_on_errors: ['Unavailable', 'Internal'] },
      consider_expired_after_s: 2_592_000,
      max_retry_buffer_per_request: 10_000_000,
      multipart_max_concurrent_uploads: 4,
      additional_max_concurrent_requests: 100,
      endpoint: 'https://minio.internal:9000',
      force_path_style: true,
      disable_http2: true,
    });
  });

  it('retry.delay takes fractional seconds or a duration', () => {
    expect(firstStore(s3({ retry: { delay: '300ms' } }))).toMatchObject({ retry: { max_retries: 0, delay: 0.3, jitter: 0 } });
  });

  it('plain http:// needs insecure_allow_http unless it is this machine', () => {
    expect(issuesOf(s3({ endpoint: 'http://minio.internal:9000' }))).toEqual([
      'stores[0].experimental_cloud_object_store.endpoint: http://minio.internal:9000 is unencrypted http://; set insecure_allow_http: true to allow it',
    ]);
    expect(firstStore(s3({ endpoint: 'http://minio.internal:9000', insecure_allow_http: true }))).toMatchObject({ insecure_allow_http: true });
    expect(firstStore(s3({ endpoint: 'http://127.0.0.1:4569' }))).toMatchObject({ endpoint: 'http://127.0.0.1:4569' });
    expect(issuesOf(s3({ endpoint: 'ftp://x' }))).toEqual([
      'stores[0].experimental_cloud_object_store.endpoint: expected an http:// or https:// URL, got "ftp://x"',
    ]);
  });

  it('only provider "aws"', () => {
    expect(issuesOf(s3({ provider: 'gcs' }))).toEqual([
      'stores[0].experimental_cloud_object_store.provider: provider "gcs" is not supported by ncache (only "aws"; for another S3-compatible service use provider "aws" with endpoint)',
    ]);
    expect(issuesOf(s3({ provider: 'aws-ish' }))).toEqual(['stores[0].experimental_cloud_object_store.provider: expected "aws", got "aws-ish"']);
  });

  it('reports bad retry values and a missing bucket', () => {
    expect(issuesOf(withStore({ experimental_cloud_object_store: { provider: 'aws', retry: { max_retries: 1.5, jitter: 2, retry_on_errors: ['Nope'] } } }))).toEqual([
      'stores[0].experimental_cloud_object_store.bucket: missing required field (expected an S3 bucket name)',
      'stores[0].experimental_cloud_object_store.retry.max_retries: expected a whole number, got 1.5',
      'stores[0].experimental_cloud_object_store.retry.jitter: expected a number of at most 1, got 2',
      expect.stringMatching(/^stores\[0\]\.experimental_cloud_object_store\.retry\.retry_on_errors\[0\]: expected one of "Cancelled", .* got "Nope"$/),
    ]);
  });

  it('reads the legacy experimental_s3_store as provider "aws"', () => {
    expect(firstStore(withStore({ experimental_s3_store: { region: 'us-east-1', bucket: 'old' } }))).toMatchObject({
      kind: 'experimental_cloud_object_store',
      provider: 'aws',
      region: 'us-east-1',
      bucket: 'old',
    });
  });
});
