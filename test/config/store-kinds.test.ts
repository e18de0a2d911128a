// The table of store kinds: one row per kind, and the walkers built on it
// (childSpecs, walkSpecs, storeShape, referencedStoreNames, the schema's
// child readers) agree with it for every kind.
import { describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../../src/config/schema-stores.js';
import { STORE_KIND_TABLE } from '../../src/config/store-kinds.js';
import { childSpecs, leafStorage, referencedStoreNames, storeShape, walkSpecs } from '../../src/config/store-tree.js';
import type { StoreSpec } from '../../src/config/types.js';
import { baseConfig, issuesOf, parse } from './helpers.js';

const memory = { memory: {} };
const fs = { filesystem: { content_path: '/d/c', temp_path: '/d/t' } };
const s3 = { experimental_cloud_object_store: { provider: 'aws', bucket: 'b' } };

/** A store "S" with this body, parsed by the real loader (stores "CAS" and "OTHER" exist for ref_store). */
function specOf(body: Record<string, unknown>): StoreSpec {
  const c = baseConfig();
  c.stores.push({ name: 'S', ...body }, { name: 'OTHER', ...memory });
  const spec = parse(c).stores[1]?.spec;
  if (spec === undefined) throw new Error('no store S');
  return spec;
}

/** One sample of every kind, with its children as [suffix, role, child kind]. */
const SAMPLES: Record<string, { body: Record<string, unknown>; children: [string, string, string][] }> = {
  memory: { body: memory, children: [] },
  filesystem: { body: fs, children: [] },
  noop: { body: { noop: {} }, children: [] },
  experimental_cloud_object_store: { body: s3, children: [] },
  grpc: { body: { grpc: { store_type: 'cas', endpoints: [{ address: 'grpc://10.0.0.5:8980' }] } }, children: [] },
  ref_store: { body: { ref_store: { name: 'CAS' } }, children: [] },
  verify: { body: { verify: { backend: memory } }, children: [['backend', 'values', 'memory']] },
  existence_cache: { body: { existence_cache: { backend: fs } }, children: [['backend', 'values', 'filesystem']] },
  compression: {
    body: { compression: { compression_algorithm: { lz4: {} }, backend: s3 } },
    children: [['backend', 'values', 'experimental_cloud_object_store']],
  },
  completeness_checking: {
    body: { completeness_checking: { backend: memory, cas_store: { ref_store: { name: 'CAS' } } } },
    children: [
      ['backend', 'values', 'memory'],
      ['cas_store', 'cas_lookup', 'ref_store'],
    ],
  },
  fast_slow: {
    body: { fast_slow: { fast: memory, slow: fs } },
    children: [
      ['fast', 'fast', 'memory'],
      ['slow', 'slow', 'filesystem'],
    ],
  },
  size_partitioning: {
    body: { size_partitioning: { size: '1mb', lower_store: memory, upper_store: fs } },
    children: [
      ['lower_store', 'values', 'memory'],
      ['upper_store', 'values', 'filesystem'],
    ],
  },
  shard: {
    body: { shard: { stores: [{ store: memory }, { store: { noop: {} }, weight: 2 }] } },
    children: [
      ['stores[0].store', 'values', 'memory'],
      ['stores[1].store', 'values', 'noop'],
    ],
  },
  dedup: {
    body: { dedup: { index_store: memory, content_store: fs } },
    children: [
      ['index_store', 'dedup_index', 'memory'],
      ['content_store', 'dedup_content', 'filesystem'],
    ],
  },
};

const isSpec = (v: unknown): boolean => typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';

describe('the table of store kinds', () => {
  it('has exactly one row per kind the schema reads, and this test a sample of each', () => {
    expect(Object.keys(STORE_KIND_TABLE).sort()).toEqual([...STORE_KINDS].sort());
    expect(Object.keys(SAMPLES).sort()).toEqual([...STORE_KINDS].sort());
  });

  it.each(Object.entries(SAMPLES))('%s: childSpecs lists its children with their suffixes and roles', (kind, sample) => {
    const spec = specOf(sample.body);
    expect(spec.kind).toBe(kind);
    expect(childSpecs(spec).map((c) => [c.suffix, c.role, c.spec.kind])).toEqual(sample.children);
  });

  it.each(Object.entries(SAMPLES))("%s: the row's child fields are exactly the spec's store fields", (_kind, sample) => {
    const spec = specOf(sample.body);
    const storeFields = Object.entries(spec)
      .filter(([, v]) => isSpec(v) || (Array.isArray(v) && v.length > 0 && v.every((e) => isSpec((e as { store?: unknown }).store))))
      .map(([k]) => k);
    const row = STORE_KIND_TABLE[spec.kind];
    const slots = row.role === 'wrapper' || row.role === 'split' ? row.children.map((s) => ('field' in s ? s.field : s.list)) : [];
    expect(slots.sort()).toEqual(storeFields.sort());
  });

  it('the schema reports each missing child at the field the table names, with its hint', () => {
    for (const [kind, row] of Object.entries(STORE_KIND_TABLE)) {
      if (row.role !== 'wrapper' && row.role !== 'split') continue;
      const c = baseConfig();
      c.stores.push({ name: 'S', [kind]: {} });
      const issues = issuesOf(c);
      for (const slot of row.children) {
        if (!('field' in slot)) continue;
        expect(issues).toContain(`stores[1].${kind}.${slot.field}: missing required field (expected ${slot.hint})`);
      }
    }
  });

  it('leaves say where they keep values; other kinds have no storage', () => {
    const storage = Object.fromEntries(Object.entries(SAMPLES).map(([kind, s]) => [kind, leafStorage(specOf(s.body))]));
    expect(storage).toEqual({
      memory: 'memory',
      filesystem: 'disk',
      noop: 'nothing',
      experimental_cloud_object_store: 'remote',
      grpc: 'remote',
      ref_store: undefined,
      verify: undefined,
      existence_cache: undefined,
      compression: undefined,
      completeness_checking: undefined,
      fast_slow: undefined,
      size_partitioning: undefined,
      shard: undefined,
      dedup: undefined,
    });
  });
});

describe('walking through the table', () => {
  const nested = () =>
    specOf({
      verify: {
        backend: {
          dedup: {
            index_store: { fast_slow: { fast: memory, slow: s3 } },
            content_store: {
              compression: {
                compression_algorithm: { lz4: {} },
                backend: { shard: { stores: [{ store: { ref_store: { name: 'CAS' } } }, { store: { completeness_checking: { backend: fs, cas_store: { ref_store: { name: 'OTHER' } } } } }] } },
              },
            },
          },
        },
      },
    });

  it('walkSpecs visits every spec depth first with its config path', () => {
    const paths: string[] = [];
    walkSpecs(nested(), 'stores[1]', (spec, path) => paths.push(`${path} ${spec.kind}`));
    expect(paths).toEqual([
      'stores[1] verify',
      'stores[1].verify.backend dedup',
      'stores[1].verify.backend.dedup.index_store fast_slow',
      'stores[1].verify.backend.dedup.index_store.fast_slow.fast memory',
      'stores[1].verify.backend.dedup.index_store.fast_slow.slow experimental_cloud_object_store',
      'stores[1].verify.backend.dedup.content_store compression',
      'stores[1].verify.backend.dedup.content_store.compression.backend shard',
      'stores[1].verify.backend.dedup.content_store.compression.backend.shard.stores[0].store ref_store',
      'stores[1].verify.backend.dedup.content_store.compression.backend.shard.stores[1].store completeness_checking',
      'stores[1].verify.backend.dedup.content_store.compression.backend.shard.stores[1].store.completeness_checking.backend filesystem',
      'stores[1].verify.backend.dedup.content_store.compression.backend.shard.stores[1].store.completeness_checking.cas_store ref_store',
    ]);
  });

  it('storeShape draws wrappers through their values and splits with every child', () => {
    expect(storeShape(nested())).toBe('verify > dedup(fast_slow(memory, s3), compression > shard(ref CAS, completeness_checking > filesystem))');
  });

  it('referencedStoreNames finds every ref_store, in walk order', () => {
    expect(referencedStoreNames(nested())).toEqual(['CAS', 'OTHER']);
    expect(referencedStoreNames(specOf(memory))).toEqual([]);
  });
});
