// A laptop daemon whose CAS is fast_slow over a grpc store pointing at a
// second daemon (the cluster), both real over loopback: the laptop's scrape
// reports the upstream calls and bytes, the same numbers its stats() has.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StoreSpec } from '../../src/config/types.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { isStatsOf } from '../../src/stores/store-stats.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { scrape } from '../helpers/prometheus.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { grpcSpec, startCluster } from '../stores/grpc-two-daemons.js';
import { fixtureConfig } from './fixture.js';

const cleanups = cleanupsAfterEach();

describe('Prometheus metrics of a grpc store', () => {
  it('reports the calls and bytes sent to the upstream, as stats() counts them', async () => {
    const cluster = await startCluster(cleanups);
    const dir = await tempDir('ncache-prom-laptop-', cleanups);
    const cas: StoreSpec = {
      kind: 'fast_slow',
      fast: { kind: 'filesystem', content_path: join(dir, 'cas', 'content'), temp_path: join(dir, 'cas', 'tmp'), read_buffer_size: 256 * 1024, block_size: 4096 },
      slow: grpcSpec(cluster.url, 'cas'),
      fast_direction: 'both',
      slow_direction: 'both',
    };
    const config = fixtureConfig(dir, {
      completeness: false,
      edit: (c) => {
        c.stores[0] = { name: 'CAS', spec: cas };
        c.servers[0]!.services.experimental_prometheus = { path: '/metrics' };
      },
    });
    const daemon = await startDaemon({ config, stateDir: join(dir, 'state') });
    cleanups.push(() => daemon.stop({ graceMs: 1000 }));
    const client = new ReapiClient(daemon.addresses[0]!);
    cleanups.push(() => client.close());

    const blob = Buffer.from('a blob that goes up to the cluster');
    const digest = await client.uploadBlob(blob);
    expect((await cluster.client.downloadBlob(digest, 'main')).equals(blob)).toBe(true);
    const s = await scrape(`http://${daemon.addresses[0]!}/metrics`);
    const upstream = { store: 'CAS', path: 'CAS.fast_slow.slow', kind: 'grpc', tier: 'slow' };
    const stats = daemon.stats().CAS!.find((st) => st.kind === 'grpc');
    if (!isStatsOf(stats, 'grpc')) throw new Error('the CAS has no grpc store in its stats');
    expect(s.value('ncache_upstream_sent_bytes_total', upstream)).toBe(blob.length);
    expect(s.value('ncache_upstream_sent_bytes_total', upstream)).toBe(stats.bytesUploaded);
    expect(s.value('ncache_upstream_requests_total', upstream)).toBe(stats.requests);
    expect(stats.requests).toBeGreaterThan(0);
    expect(s.value('ncache_upstream_errors_total', upstream)).toBe(stats.errors);
    expect(s.value('ncache_upstream_retries_total', upstream)).toBe(0);
  });
});
