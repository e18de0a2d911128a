// Leaf classification for the configs the CLI tests and `ncache init` use:
// roles come from the servers' cas_store/ac_store, a completeness_checking
// store's cas_store (a ref_store) leads back to the CAS leaf without listing it
// twice, and a store no service uses has role "unknown".
import { afterEach, describe, expect, it } from 'vitest';
import { classifyLeaves, otherSideLeaves } from '../../src/maintenance/tiers.js';
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
});
