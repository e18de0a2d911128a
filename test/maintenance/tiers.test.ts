// Leaf classification for the configs the CLI tests and `ncache init` use:
// roles come from the servers' cas_store/ac_store, a completeness_checking
// store's cas_store (a ref_store) leads back to the CAS leaf without listing it
// twice, and a store no service uses has role "unknown".
import { afterEach, describe, expect, it } from 'vitest';
import { collectRows } from '../../src/daemon/control/ls.js';
import { storesByRole } from '../../src/daemon/control/store-nodes.js';
import { classifyLeaves, forgetAbove, otherSideLeaves } from '../../src/maintenance/tiers.js';
import { putBuffer } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';
import { testConfigText } from '../helpers/daemon-process.js';
import { type World, openWorld, servers } from './harness.js';

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

describe('classifyLeaves', () => {
  it('the default test config: a CAS leaf under verify and an AC leaf under completeness_checking', async () => {
    const config = JSON.parse(testConfigText({ dataDir: '${DIR}' }).replace(/^\/\/.*\n/, '')) as Record<string, unknown>;
    const w = await openWorld(config);
    worlds.push(w);
    const leaves = classifyLeaves(w.config, w.stores);
    expect(leaves.map((l) => [l.id, l.kind, l.location, l.role])).toEqual([
      ['CAS.verify.backend', 'filesystem', 'local', 'cas'],
      ['AC.completeness_checking.backend', 'filesystem', 'local', 'ac'],
    ]);
  });

  it('a leaf lists every store above it on every path, through ref_store too, and forgetAbove empties an existence_cache among them', async () => {
    const w = await openWorld({
      stores: [
        { name: 'CAS', existence_cache: { backend: { memory: {} } } },
        { name: 'WORKER_CAS', fast_slow: { fast: { memory: {} }, slow: { ref_store: { name: 'CAS' } } } },
      ],
      servers: servers('CAS'),
    });
    worlds.push(w);
    const leaves = classifyLeaves(w.config, w.stores);
    const casLeaf = leaves.find((l) => l.store === w.stores.tree('CAS').children[0]!.driver)!;
    const workerTree = w.stores.tree('WORKER_CAS');
    const slowRef = workerTree.children.find((c) => c.role === 'slow')!.driver;
    expect(new Set(casLeaf.above)).toEqual(new Set([w.stores.get('CAS'), workerTree.driver, slowRef]));

    const data = Buffer.from('remembered');
    const key = digestOf(data);
    await putBuffer(w.stores.get('CAS'), key, data);
    expect(await w.stores.get('CAS').has([key])).toEqual([10]);
    // Removed from the leaf directly, as gc does: the existence cache would still say "present".
    await casLeaf.store.remove!(key);
    expect(await w.stores.get('CAS').has([key])).toEqual([10]);
    forgetAbove(casLeaf, [key]);
    expect(await w.stores.get('CAS').has([key])).toEqual([undefined]);
  });

  it('fast_slow sides point at each other; an unused store is "unknown"', async () => {
    const w = await openWorld({
      stores: [
        { name: 'CAS', fast_slow: { fast: { memory: {} }, slow: { memory: {} } } },
        { name: 'SPARE', memory: {} },
      ],
      servers: servers('CAS'),
    });
    worlds.push(w);
    const leaves = classifyLeaves(w.config, w.stores);
    const fast = leaves.find((l) => l.id === 'CAS.fast_slow.fast')!;
    const slow = leaves.find((l) => l.id === 'CAS.fast_slow.slow')!;
    expect(otherSideLeaves(fast, leaves)).toEqual([slow]);
    expect(otherSideLeaves(slow, leaves)).toEqual([fast]);
    expect(fast.fastSlow[0]!.storeId).toBe('CAS');
    expect(leaves.find((l) => l.id === 'SPARE')!.role).toBe('unknown');
  });

  it('a store used only by execution[].cas_store is a CAS for ls and for gc/verify alike', async () => {
    const w = await openWorld({
      stores: [
        { name: 'CAS', memory: {} },
        { name: 'EXEC_CAS', memory: {} },
      ],
      schedulers: [{ name: 'SCHED', simple: {} }],
      servers: [
        ...servers('CAS'),
        {
          listener: { http: { socket_address: '127.0.0.1:0' } },
          services: { execution: [{ instance_name: 'exec', cas_store: 'EXEC_CAS', scheduler: 'SCHED' }] },
        },
      ],
    });
    worlds.push(w);
    const blob = Buffer.from('uploaded for an action');
    await putBuffer(w.stores.get('EXEC_CAS'), digestOf(blob), blob);

    // gc and verify: its leaf holds CAS blobs (hashed when verified).
    expect(classifyLeaves(w.config, w.stores).map((l) => [l.id, l.role])).toEqual([
      ['CAS', 'cas'],
      ['EXEC_CAS', 'cas'],
    ]);
    // ls: the same stores are listed as CAS, and the blob is in the listing.
    const cas = storesByRole(w.config).cas;
    expect(cas.map((s) => s.name)).toEqual(['CAS', 'EXEC_CAS']);
    const execCas = cas.find((s) => s.name === 'EXEC_CAS')!;
    const rows = await collectRows(w, execCas, undefined);
    expect([...rows.values()].map((r) => r.key)).toEqual([digestOf(blob)]);
  });
});
