import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FilesystemSpec, NamedStoreSpec, StoreSpec } from '../../src/config/types.js';
import { StoreManager, createStore } from '../../src/stores/factory.js';
import type { StoreContext } from '../../src/stores/store-context.js';
import { putBuffer, readBuffer } from '../../src/stores/store.js';
import { ManualClock, systemClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { silentLogger } from '../../src/util/logger.js';

const deps = { logger: silentLogger, clock: new ManualClock() };
const ctx: StoreContext = {
  ...deps,
  storeByName: (name) => {
    throw new Error(`no store ${name}`);
  },
};
const memory: StoreSpec = { kind: 'memory' };

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ncache-factory-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const filesystem = (name: string): FilesystemSpec => ({
  kind: 'filesystem',
  content_path: join(root, name, 'content'),
  temp_path: join(root, name, 'tmp'),
  read_buffer_size: 32 * 1024,
  block_size: 4096,
});

describe('createStore', () => {
  it('builds nested trees', () => {
    const store = createStore(
      {
        kind: 'verify',
        verify_size: true,
        verify_hash: true,
        backend: {
          kind: 'fast_slow',
          fast: memory,
          slow: { kind: 'size_partitioning', size: 10, lower_store: memory, upper_store: { kind: 'noop' } },
          fast_direction: 'both',
          slow_direction: 'both',
        },
      },
      ctx,
      'stores[0]',
    );
    expect(store.kind).toBe('verify');
    const kinds: string[] = [];
    const walk = (s: typeof store): void => {
      kinds.push(s.kind);
      for (const c of s.children?.() ?? []) walk(c);
    };
    walk(store);
    expect(kinds).toEqual(['verify', 'fast_slow', 'memory', 'size_partitioning', 'memory', 'noop']);
  });

  it('builds a dedup store over its index and content stores, keyed in the catalog by name and path', async () => {
    const spec: StoreSpec = {
      kind: 'verify',
      verify_size: true,
      verify_hash: true,
      backend: {
        kind: 'dedup',
        index_store: memory,
        content_store: memory,
        min_size: 1024,
        normal_size: 4096,
        max_size: 8192,
        max_concurrent_fetch_per_get: 10,
      },
    };
    const store = createStore(spec, { ...ctx, storeName: 'CAS' }, 'stores[0]');
    const dedup = store.children!()[0]!;
    expect(dedup.kind).toBe('dedup');
    expect(dedup.children!().map((c) => c.kind)).toEqual(['memory', 'memory']);
    const data = Buffer.alloc(50_000, 7);
    await putBuffer(store, digestOf(data), data);
    expect((await readBuffer(store, digestOf(data))).equals(data)).toBe(true);
  });
});

describe('StoreManager', () => {
  it('builds, starts and closes named stores, resolving ref_store by name', async () => {
    const specs: NamedStoreSpec[] = [
      { name: 'CAS_MAIN', spec: { kind: 'ref_store', name: 'CAS_DISK' } },
      { name: 'CAS_DISK', spec: filesystem('cas') },
      { name: 'AC', spec: memory },
    ];
    const manager = new StoreManager(specs, deps);
    expect(manager.names()).toEqual(['CAS_MAIN', 'CAS_DISK', 'AC']);
    await manager.start();
    expect(existsSync(join(root, 'cas', 'content'))).toBe(true);
    const data = Buffer.from('through the reference');
    await putBuffer(manager.get('CAS_MAIN'), digestOf(data), data);
    expect((await readBuffer(manager.get('CAS_DISK'), digestOf(data))).equals(data)).toBe(true);
    await manager.close();
    expect(() => manager.get('NOPE')).toThrow(/no store named "NOPE"/);
  });

  it('detects reference cycles with the names involved', () => {
    const specs: NamedStoreSpec[] = [
      { name: 'A', spec: { kind: 'fast_slow', fast: memory, slow: { kind: 'ref_store', name: 'B' }, fast_direction: 'both', slow_direction: 'both' } },
      { name: 'B', spec: { kind: 'ref_store', name: 'A' } },
    ];
    expect(() => new StoreManager(specs, deps)).toThrow('stores: ref_store reference cycle "A" -> "B" -> "A"');
  });

  it('detects a store referring to itself and references to unknown stores', () => {
    expect(() => new StoreManager([{ name: 'SELF', spec: { kind: 'ref_store', name: 'SELF' } }], deps)).toThrow(
      /cycle "SELF" -> "SELF"/,
    );
    expect(() => new StoreManager([{ name: 'X', spec: { kind: 'ref_store', name: 'MISSING' } }], deps)).toThrow(
      /unknown store "MISSING"/,
    );
  });

  it('records what it built: each driver with its spec, config path, catalog id, field and role', () => {
    const cas: StoreSpec = {
      kind: 'verify',
      verify_size: true,
      verify_hash: false,
      backend: {
        kind: 'fast_slow',
        fast: memory,
        slow: { kind: 'shard', stores: [{ store: memory, weight: 1 }, { store: { kind: 'noop' }, weight: 1 }] },
        fast_direction: 'both',
        slow_direction: 'both',
      },
    };
    const manager = new StoreManager(
      [
        { name: 'AC', spec: memory },
        { name: 'CAS', spec: cas },
        { name: 'REF', spec: { kind: 'ref_store', name: 'CAS' } },
      ],
      deps,
    );
    const rows: string[][] = [];
    const walk = (b: ReturnType<StoreManager['tree']>): void => {
      rows.push([b.driver.kind, b.path, b.catalogId, b.field, b.role ?? '-']);
      expect(b.children.map((c) => c.driver)).toEqual([...(b.driver.children?.() ?? [])]);
      b.children.forEach(walk);
    };
    walk(manager.tree('CAS'));
    expect(rows).toEqual([
      ['verify', 'stores[1]', 'CAS', '', '-'],
      ['fast_slow', 'stores[1].verify.backend', 'CAS.verify.backend', 'backend', 'values'],
      ['memory', 'stores[1].verify.backend.fast_slow.fast', 'CAS.verify.backend.fast_slow.fast', 'fast', 'fast'],
      ['shard', 'stores[1].verify.backend.fast_slow.slow', 'CAS.verify.backend.fast_slow.slow', 'slow', 'slow'],
      [
        'memory',
        'stores[1].verify.backend.fast_slow.slow.shard.stores[0].store',
        'CAS.verify.backend.fast_slow.slow.shard.stores[0].store',
        'stores[0].store',
        'values',
      ],
      [
        'noop',
        'stores[1].verify.backend.fast_slow.slow.shard.stores[1].store',
        'CAS.verify.backend.fast_slow.slow.shard.stores[1].store',
        'stores[1].store',
        'values',
      ],
    ]);
    expect(manager.tree('CAS').spec).toBe(cas);
    expect(manager.tree('CAS').driver).toBe(manager.get('CAS'));
    // A ref_store is a node of its own tree; the store it names is recorded once, under its name.
    expect(manager.tree('REF').children).toEqual([]);
    expect(manager.tree('AC').catalogId).toBe('AC');
    expect(() => manager.tree('NOPE')).toThrow(/no store named "NOPE"/);
  });

  it('reports the top-level index in errors from nested specs', () => {
    expect(
      () =>
        new StoreManager(
          [
            { name: 'ok', spec: memory },
            { name: 'later', spec: { kind: 'compression', backend: memory, compression_algorithm: { lz4: { block_size: 2 ** 31, max_decode_block_size: 2 ** 31 } } } },
          ],
          deps,
        ),
    ).toThrow('stores[1].compression.compression_algorithm.lz4.block_size: must be between 1 and');
  });
});

describe('optional store kinds', () => {
  it('refuses to build an S3 store whose code was never loaded, naming the path', async () => {
    // A fresh module registry: this file may not have loaded the S3 code yet, but make sure.
    vi.resetModules();
    const { createStore: freshCreateStore } = await import('../../src/stores/factory.js');
    const spec = {
      kind: 'experimental_cloud_object_store',
      provider: 'aws',
      region: 'eu-central-1',
      bucket: 'b',
      key_prefix: '',
      retry: { max_retries: 0, delay: 0, jitter: 0 },
      consider_expired_after_s: 0,
      max_retry_buffer_per_request: 5 << 20,
      multipart_max_concurrent_uploads: 10,
      additional_max_concurrent_requests: 20,
      force_path_style: false,
      insecure_allow_http: false,
      disable_http2: false,
    } as const;
    const ctx = { logger: silentLogger, clock: systemClock, storeByName: () => { throw new Error('unused'); } };
    expect(() => freshCreateStore(spec, ctx, 'stores[3].fast_slow.slow')).toThrow(
      'stores[3].fast_slow.slow: the S3 store\'s code was not loaded',
    );
    const { loadStoreKinds } = await import('../../src/stores/optional-kinds.js');
    await loadStoreKinds([spec]);
    expect(freshCreateStore(spec, ctx, 'stores[3]').kind).toBe('experimental_cloud_object_store');
  });
});
