// `ncache status` on a laptop daemon (`init --remote`) whose upstream is a
// second, real daemon (`init --exec`): while the cluster runs, its one row
// (CAS, AC and the scheduler share the endpoint) is reachable with the
// capabilities the cluster itself reports to a grpc-js client; once the
// cluster is stopped, the same row is unreachable with the status code and
// the cluster's address, and status still answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusResult } from '../../src/commands/status/run.js';
import { capabilitiesSummary } from '../../src/daemon/control/upstream-status.js';
import { createReapiClient } from '../helpers/grpc-client.js';
import { type Cluster, type TeamDaemon, cliJson, clusterFixture, laptopFixture } from '../helpers/remote-daemons.js';

describe('ncache status: the upstream a laptop daemon forwards to', () => {
  let cluster: Cluster;
  let laptop: TeamDaemon;

  beforeAll(async () => {
    cluster = await clusterFixture();
    await cluster.fixture.start();
    laptop = await laptopFixture(cluster.url);
    await laptop.fixture.start();
  }, 120_000);

  afterAll(async () => {
    await laptop?.fixture.cleanup();
    await cluster?.fixture.cleanup();
  }, 60_000);

  it('while the cluster runs: reachable, with the capabilities the cluster reports, used by both stores and the scheduler', async () => {
    const client = createReapiClient(cluster.url.replace('grpc://', ''));
    const reported = await client.getCapabilities('').finally(() => client.close());
    const status = await cliJson<StatusResult>(laptop, ['status']);
    expect(status.upstreams).toEqual([
      {
        address: cluster.url,
        instanceName: '',
        usedBy: ['store CAS (cas)', 'store AC (ac)', 'scheduler UPSTREAM'],
        reachable: true,
        error: null,
        latencyMs: expect.any(Number),
        capabilities: capabilitiesSummary(reported),
      },
    ]);
    // The cluster runs actions and speaks SHA-256, as Bazel needs.
    expect(status.upstreams[0]!.capabilities).toMatchObject({ execEnabled: true, digestFunctions: ['SHA256'], actionCacheUpdateEnabled: true });

    const text = await laptop.cli(['status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`upstreams:\\n  ${cluster.url} \\(instance ""\\): reachable, answered in \\d+ ms\\n    execution enabled, digest functions SHA256, action cache writable`));
    expect(text.stdout).toContain('    used by store CAS (cas), store AC (ac), scheduler UPSTREAM\n');
  }, 60_000);

  it('once the cluster is stopped: unreachable, with the status code and its address, and status still answers', async () => {
    await cluster.fixture.cleanup();
    const status = await cliJson<StatusResult>(laptop, ['status']);
    expect(status.upstreams).toHaveLength(1);
    const [row] = status.upstreams;
    expect(row).toMatchObject({ address: cluster.url, reachable: false, latencyMs: null, capabilities: null });
    expect(row!.error).toContain('UNAVAILABLE');
    expect(row!.error).toContain(cluster.url);
    // The rest of status is the laptop's own and unaffected.
    expect(status.stores.map((s) => s.name)).toEqual(['CAS', 'AC']);

    const text = await laptop.cli(['status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`  ${cluster.url} (instance ""): unreachable: `);
  }, 60_000);
});
