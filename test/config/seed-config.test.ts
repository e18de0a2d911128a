// The reference config (NativeLink's AWS S3 example, copied verbatim from the
// seed into the fixture) must load unchanged.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { collectWarnings, summarizeConfig } from '../../src/config/schema.js';
import { walkSpecs } from '../../src/config/store-tree.js';
import type { CloudObjectStoreSpec, StoreSpec } from '../../src/config/types.js';
import { ENV } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/configs/nativelink-s3-example.json5', import.meta.url));
const SEED = '/work/shared/seeds/000_4767c83939a680a7.txt';

const memory100mb = { kind: 'memory', eviction_policy: { max_bytes: 100_000_000, evict_bytes: 0, max_seconds: 0, max_count: 0 } };
const s3 = (key_prefix: string): CloudObjectStoreSpec => ({
  kind: 'experimental_cloud_object_store',
  provider: 'aws',
  region: 'eu-central-1',
  bucket: 'mybucket-1b19581ba67b64d50b4325d1727205756',
  key_prefix,
  retry: { max_retries: 6, delay: 0.3, jitter: 0.5 },
  consider_expired_after_s: 0,
  max_retry_buffer_per_request: 5 * 1024 * 1024,
  multipart_max_concurrent_uploads: 10,
  additional_max_concurrent_requests: 20,
  force_path_style: false,
  insecure_allow_http: false,
  disable_http2: false,
});
const fastSlow = (fast: unknown, slow: unknown) => ({
  kind: 'fast_slow',
  fast,
  slow,
  fast_direction: 'both',
  slow_direction: 'both',
  slow_write_mode: 'sync',
});

describe('the seed config', () => {
  // The seed lives outside the repository; the fixture is the copy CI sees.
  it.skipIf(!existsSync(SEED))('is the seed\'s "Complete Configuration" block, verbatim', async () => {
    const [seed, fixture] = await Promise.all([readFile(SEED, 'utf8'), readFile(FIXTURE, 'utf8')]);
    expect(seed).toContain(`Complete Configuration\n\n${fixture.trimEnd()}\n\nArchitecture Patterns`);
    expect(fixture.startsWith('{\n  stores: [')).toBe(true);
  });

  it('loads into the expected normalized shape', async () => {
    const config = await loadConfigFile(FIXTURE, ENV);
    expect(config.source).toBe(FIXTURE);
    expect(config.stores.map((s) => s.name)).toEqual(['CAS_MAIN_STORE', 'AC_MAIN_STORE']);

    expect(config.stores[0]!.spec).toEqual({
      kind: 'verify',
      verify_size: true,
      verify_hash: false,
      backend: {
        kind: 'dedup',
        index_store: fastSlow(memory100mb, s3('test-prefix-index/')),
        content_store: {
          kind: 'compression',
          compression_algorithm: { lz4: { block_size: 65_536, max_decode_block_size: 65_536 } },
          backend: fastSlow(memory100mb, s3('test-prefix-dedup-cas/')),
        },
        min_size: 65_536,
        normal_size: 262_144,
        max_size: 524_288,
        max_concurrent_fetch_per_get: 10,
      },
    });
    expect(config.stores[1]!.spec).toEqual(fastSlow(memory100mb, s3('test-prefix-ac/')));

    // Three S3 tiers, each under its own key prefix in the one bucket.
    const prefixes: string[] = [];
    for (const store of config.stores) {
      walkSpecs(store.spec, store.name, (spec: StoreSpec) => {
        if (spec.kind === 'experimental_cloud_object_store') prefixes.push(spec.key_prefix);
      });
    }
    expect(prefixes).toEqual(['test-prefix-index/', 'test-prefix-dedup-cas/', 'test-prefix-ac/']);

    expect(config.schedulers).toEqual([
      {
        name: 'MAIN_SCHEDULER',
        spec: {
          kind: 'simple',
          supported_platform_properties: {
            cpu_count: 'minimum',
            memory_kb: 'minimum',
            ISA: 'exact',
            docker_image: 'priority',
            'lre-rs': 'priority',
          },
          retain_completed_for_s: 60,
          client_action_timeout_s: 60,
          worker_timeout_s: 5,
          max_job_retries: 3,
          allocation_strategy: 'least_recently_used',
          max_action_executing_timeout_s: 0,
          worker_match_logging_interval_s: 10,
        },
      },
    ]);

    expect(config.servers).toHaveLength(1);
    const server = config.servers[0]!;
    expect(server.name).toBe('0');
    expect(server.listener.http.socket_address).toBe('0.0.0.0:50051');
    expect(server.services).toEqual({
      cas: [{ instance_name: 'main', cas_store: 'CAS_MAIN_STORE' }],
      ac: [{ instance_name: 'main', ac_store: 'AC_MAIN_STORE', read_only: false }],
      execution: [{ instance_name: 'main', cas_store: 'CAS_MAIN_STORE', scheduler: 'MAIN_SCHEDULER' }],
      capabilities: [{ instance_name: 'main', remote_execution: { scheduler: 'MAIN_SCHEDULER' } }],
      bytestream: {
        cas_stores: { main: 'CAS_MAIN_STORE' },
        max_bytes_per_stream: 65_536,
        persist_stream_on_disconnect_timeout: 10,
        max_decoding_message_size: 4 * 1024 * 1024,
      },
      health: {},
    });
    expect(config.workers).toEqual([]);
    expect(config.global.default_digest_hash_function).toBe('sha256');
  });

  it('summarizes on one line and warns that it listens on all interfaces, that no worker serves its scheduler and that its shared AC is not completeness-checked', async () => {
    const config = await loadConfigFile(FIXTURE, ENV);
    expect(summarizeConfig(config)).toBe(
      'stores: CAS_MAIN_STORE = verify > dedup(fast_slow(memory, s3), compression > fast_slow(memory, s3)), AC_MAIN_STORE = fast_slow(memory, s3); ' +
        'schedulers: MAIN_SCHEDULER; servers: 0.0.0.0:50051 (cas, ac, execution, capabilities, bytestream, health; instance "main")',
    );
    expect(collectWarnings(config)).toEqual([
      'servers[0].listener.http.socket_address: 0.0.0.0:50051 is reachable from other machines, with no TLS or authentication; anyone who can connect can read and write this cache. ' +
        'Add listener.http.auth with a tokens file (ncache init --aws --listen writes one), or listen on 127.0.0.1',
      expect.stringMatching(/^schedulers\[0\] \("MAIN_SCHEDULER"\): no worker serves it, so Execute answers every action sent to it with an error/),
      expect.stringMatching(/^servers\[0\]\.services\.ac\[0\]\.ac_store: "AC_MAIN_STORE" is an action cache shared through .* completeness_checking/),
    ]);
  });
});
