// Real Bazel 4.2.3 against a laptop daemon whose CAS and AC are fast_slow in
// front of a second daemon (the cluster) through grpc stores: the cold build's
// uploads reach the cluster, and after bazel clean a fresh laptop (empty local
// tiers) serves every cacheable action as a remote cache hit from the cluster.
import { describe, expect, it } from 'vitest';
import { BazelWorkspace } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, labels } from '../helpers/bazel-gate.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { startCluster, startLaptop } from '../stores/grpc-two-daemons.js';

const bazel = bazelOrSkip('test/e2e/bazel-grpc-store.test.ts', 'Bazel through a grpc store');
const TIMEOUT = 15 * 60_000;
const cleanups = cleanupsAfterEach();

describe.skipIf(!bazel)('Bazel 4.2.3 through a laptop in front of a cluster (grpc store)', () => {
  it(
    'a fresh laptop after bazel clean gets every cacheable action from the cluster',
    async () => {
      const ws = await BazelWorkspace.create({ fixture: 'bazel-workspace' });
      cleanups.push(() => ws.cleanup());
      const cluster = await startCluster(cleanups);
      const first = await startLaptop(cleanups, cluster.url);
      const cold = await ws.run('test', [`--remote_cache=grpc://${first.daemon.addresses[0]}`, '//...'], { executionLog: true });
      expect(cold.summary, describeRun(cold)).toBeDefined();
      expect(cold.summary!.remoteCacheHits, describeRun(cold)).toBe(0);
      await first.stop();

      const fresh = await startLaptop(cleanups, cluster.url);
      await ws.run('clean');
      const warm = await ws.run('test', [`--remote_cache=grpc://${fresh.daemon.addresses[0]}`, '//...'], { executionLog: true });
      const summary = warm.summary!;
      expect(summary, describeRun(warm)).toBeDefined();
      expect(summary.executed, describeRun(warm)).toBe(0);
      expect(summary.remoteCacheHits, describeRun(warm)).toBe(cacheable(cold.spawns!).length);
      expect(labels(cacheable(warm.spawns!))).toEqual(labels(cacheable(cold.spawns!)));
      expect(warm.stdout + warm.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);
    },
    TIMEOUT,
  );
});
