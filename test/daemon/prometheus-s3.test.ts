// Prometheus over a real S3 slow tier (s3rver behind the counting fault
// proxy) with write-behind, on `ncache serve` (the built CLI): the S3
// requests the scrape reports are the ones the proxy saw, a refused PUT shows
// as a retry, and the write-behind backlog drains to zero in the scrape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { scrape } from '../helpers/prometheus.js';
import { s3ConfigText, s3DaemonEnv } from '../helpers/s3-daemon.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';
import { waitFor } from '../helpers/wait-for.js';

describe('Prometheus metrics over an S3 slow tier with write-behind', () => {
  let s3: S3rverHandle;
  let proxy: FaultProxy;
  let d: CliDaemon;
  let client: ReapiClient;

  beforeAll(async () => {
    s3 = await startS3rver();
    proxy = await FaultProxy.start(s3.endpoint);
    const config = JSON.parse(
      s3ConfigText({ dataDir: '${NCACHE_TEST_DIR}/data', endpoint: proxy.endpoint, bucket: s3.bucket, keyPrefix: 'p/' }).replace(/^\/\/.*\n/, ''),
    ) as { servers: { services: Record<string, unknown> }[] };
    config.servers[0]!.services.experimental_prometheus = { path: '/metrics' };
    const { NCACHE_STATE_DIR: _ownStateDir, ...awsEnv } = s3DaemonEnv('');
    d = await startCliDaemon({ configText: JSON.stringify(config), env: awsEnv });
    client = new ReapiClient(d.address);
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
    await proxy?.close();
    await s3?.stop();
  });

  it('reports the S3 requests the bucket saw, a retried PUT, and the backlog drained', async () => {
    const url = `http://${d.address}/metrics`;
    const cas = { store: 'CAS', path: 'CAS.verify.backend.fast_slow.slow', kind: 'experimental_cloud_object_store', tier: 'slow' };
    const writeBehind = { store: 'CAS', path: 'CAS.verify.backend', kind: 'fast_slow' };
    proxy.resetCounts();
    // The first PUT of the CAS's slow tier is refused once; the store retries it.
    proxy.inject({ ops: ['PutObject'], pathIncludes: '/p/cas/', times: 1, fault: { type: 'status', status: 500, code: 'InternalError' } });
    const blobs = [Buffer.from('first blob for the scrape'), Buffer.from('second blob for the scrape')];
    for (const blob of blobs) await client.uploadBlob(blob);
    const drained = await waitFor(
      async () => {
        const s = await scrape(url);
        return s.value('ncache_write_behind_uploaded_total', writeBehind) === 2 && s.value('ncache_write_behind_backlog_blobs', writeBehind) === 0 && s;
      },
      { what: 'the scrape to show both uploads delivered to S3' },
    );
    expect(drained.value('ncache_s3_requests_total', { ...cas, operation: 'PutObject' })).toBe(3);
    expect(drained.value('ncache_s3_retries_total', cas)).toBe(1);
    expect(drained.value('ncache_s3_sent_bytes_total', cas)).toBe(blobs[0]!.length + blobs[1]!.length);
    expect(drained.value('ncache_write_behind_backlog_bytes', writeBehind)).toBe(0);
    expect(drained.value('ncache_write_behind_upload_failures_total', writeBehind)).toBe(0);
    // Every S3 request the daemon counted, across its stores, is one the bucket's proxy saw.
    const proxied = Object.values(proxy.counts()).reduce((a, b) => a + (b ?? 0), 0);
    expect(drained.value('ncache_s3_requests_total')).toBe(proxied);
  });
});
