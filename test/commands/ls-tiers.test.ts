// `ncache ls` and `ncache stats` over a seed-like tree (dedup over fast_slow
// tiers, lz4 compression, an action cache in fast_slow), through the built CLI
// against a real daemon: tier names, chunk counts, slow-tier presence from
// the catalog, dedup and compression ratios.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import type { LsEntry } from '../../src/daemon/control/ls.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { loopbackServers } from '../helpers/config-servers.js';

const fs = (name: string) => ({
  filesystem: {
    content_path: `\${NCACHE_TEST_DIR}/data/${name}/content`,
    temp_path: `\${NCACHE_TEST_DIR}/data/${name}/tmp`,
  },
});

const CONFIG = {
  stores: [
    {
      name: 'CAS',
      verify: {
        verify_size: true,
        verify_hash: true,
        backend: {
          dedup: {
            // Small chunks so a 200 KB blob has several.
            min_size: 4096,
            normal_size: 16384,
            max_size: 65536,
            index_store: { fast_slow: { fast: { memory: {} }, slow: fs('index') } },
            content_store: { compression: { compression_algorithm: { lz4: {} }, backend: fs('chunks') } },
          },
        },
      },
    },
    { name: 'AC', fast_slow: { fast: { memory: {} }, slow: fs('ac') } },
  ],
  servers: loopbackServers(),
};

describe('ncache ls / stats over dedup, compression and fast_slow tiers', () => {
  let d: CliDaemon;
  let client: ReapiClient;
  // Compressible and repetitive: the second blob shares most chunks with the first.
  const base = Buffer.concat(Array.from({ length: 50 }, (_, i) => Buffer.from(`line ${i % 7} of a compressible text `.repeat(100))));
  const variant = Buffer.concat([base, randomBytes(1000)]);
  let blobs: Digest[];
  const action = digestOf(Buffer.from('an action in a fast_slow AC'));

  beforeAll(async () => {
    d = await startCliDaemon({ configText: JSON.stringify(CONFIG) });
    client = new ReapiClient(d.address);
    blobs = [await client.uploadBlob(base), await client.uploadBlob(variant)];
    await client.updateActionResult({ actionDigest: action, actionResult: { exitCode: 0 } });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
  });

  const json = async <T>(args: string[]): Promise<T> => {
    const r = await d.run(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as T;
  };

  it('lists dedup blobs with their chunk counts and the tiers holding their index entries', async () => {
    const { entries } = await json<{ entries: LsEntry[] }>(['ls', '--cas', '--json']);
    expect(entries.map((e) => e.digest).sort()).toEqual(blobs.map((b) => `${b.hash}/${b.sizeBytes}`).sort());
    for (const e of entries) {
      expect(e.chunkCount).toBeGreaterThan(1);
      // Write-through fast_slow: the index entry is in both tiers.
      expect(e.tiers).toEqual(['fast', 'slow']);
      expect(e.size).toBe(e.sizeBytes);
    }
  });

  it('lists an action result in both tiers, and one only the catalog knows the slow tier holds', async () => {
    // What a daemon learns when S3 confirms a blob: a presence row for the AC's fast_slow ("AC").
    const known = digestOf(Buffer.from('an action only the slow tier holds'));
    const catalog = Catalog.open(join(d.stateDir, 'catalog.sqlite'));
    try {
      catalog.presence.record('AC', 'some-slow-tier', [{ key: known, valueSize: 77 }], Date.now());
    } finally {
      catalog.close();
    }
    const { entries } = await json<{ entries: LsEntry[] }>(['ls', '--ac', '--json', '--sort', 'name']);
    const byHash = new Map(entries.map((e) => [e.hash, e]));
    expect(byHash.get(action.hash)).toMatchObject({ tiers: ['fast', 'slow'], type: 'ac' });
    expect(byHash.get(known.hash)).toMatchObject({ tiers: ['slow'], size: 77, storedSize: null, lastAccessMs: null });
    expect(entries).toHaveLength(2);
  });

  it('stats shows the dedup ratio, the compression ratio and every tier', async () => {
    const s = await json<StatsResult>(['stats', '--json']);
    expect(s.dedup).toHaveLength(1);
    const dd = s.dedup[0]!;
    expect(dd).toMatchObject({ store: 'CAS', path: 'CAS.verify.backend', blobs: 2, logicalBytes: base.length + variant.length });
    // The variant reuses the base's chunks: well over 1.5x.
    expect(dd.dedupRatio).toBeGreaterThan(1.5);
    expect(s.compression).toHaveLength(1);
    expect(s.compression[0]!.path).toBe('CAS.verify.backend.dedup.content_store');
    expect(s.compression[0]!.ratio).toBeGreaterThan(2);
    const tiers = s.stores.find((x) => x.name === 'CAS')!.tiers.map((t) => [t.path, t.kind, t.tier]);
    expect(tiers).toEqual([
      ['CAS', 'verify', null],
      ['CAS.verify.backend', 'dedup', null],
      ['CAS.verify.backend.dedup.index_store', 'fast_slow', null],
      ['CAS.verify.backend.dedup.index_store.fast_slow.fast', 'memory', 'fast'],
      ['CAS.verify.backend.dedup.index_store.fast_slow.slow', 'filesystem', 'slow'],
      ['CAS.verify.backend.dedup.content_store', 'compression', null],
      ['CAS.verify.backend.dedup.content_store.compression.backend', 'filesystem', null],
    ]);

    const text = await d.run(['stats']);
    expect(text.stdout).toMatch(/\nDedup\n/);
    expect(text.stdout).toMatch(/\nCompression\n/);
    expect(text.stdout).toMatch(/CAS\.verify\.backend +2 /);
  });
});
