// `ncache stats` and `ncache ls` over a real S3 slow tier (s3rver) with
// write-behind, through the built CLI: S3 requests by operation, the upload
// backlog draining, and ls learning from the catalog that the slow tier holds
// what was uploaded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LsEntry } from '../../src/daemon/control/ls.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import type { Digest } from '../../src/util/digest.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { s3ConfigText, s3DaemonEnv } from '../helpers/s3-daemon.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';
import { waitFor } from '../helpers/wait-for.js';

describe('ncache stats / ls over an S3 slow tier', () => {
  let s3: S3rverHandle;
  let d: CliDaemon;
  let client: ReapiClient;
  const blobs: Digest[] = [];

  beforeAll(async () => {
    s3 = await startS3rver();
    const { NCACHE_STATE_DIR: _ownStateDir, ...awsEnv } = s3DaemonEnv('');
    d = await startCliDaemon({
      configText: s3ConfigText({ dataDir: '${NCACHE_TEST_DIR}/data', endpoint: s3.endpoint, bucket: s3.bucket, keyPrefix: 't/' }),
      env: awsEnv,
    });
    client = new ReapiClient(d.address);
    for (const text of ['first blob for S3', 'second blob for S3']) blobs.push(await client.uploadBlob(Buffer.from(text)));
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
    await s3?.stop();
  });

  const stats = async () => {
    const r = await d.run(['stats', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as StatsResult;
  };

  it('shows S3 PUTs per store and the backlog draining to zero', async () => {
    const s = await waitFor(async () => {
      const now = await stats();
      const cas = now.uploadBacklog.stores.find((b) => b.store === 'CAS');
      return cas !== undefined && cas.uploaded === 2 && cas.blobs === 0 ? now : undefined;
    }, { what: 'the CAS uploads to reach S3' });
    expect(s.uploadBacklog.blobs).toBe(0);
    expect(s.uploadBacklog.stores.map((b) => b.path).sort()).toEqual([
      'AC.completeness_checking.backend',
      'CAS.verify.backend',
    ]);
    const casS3 = s.s3.find((x) => x.store === 'CAS')!;
    expect(casS3).toMatchObject({ bucket: s3.bucket, prefix: 't/cas/', path: 'CAS.verify.backend.fast_slow.slow' });
    expect(casS3.requests.PutObject).toBe(2);
    expect(casS3.bytesUploaded).toBe(blobs[0]!.sizeBytes + blobs[1]!.sizeBytes);
    const tiers = s.stores.find((x) => x.name === 'CAS')!.tiers;
    expect(tiers.map((t) => [t.kind, t.tier])).toEqual([
      ['verify', null],
      ['fast_slow', null],
      ['filesystem', 'fast'],
      ['experimental_cloud_object_store', 'slow'],
    ]);

    const text = await d.run(['stats']);
    expect(text.stdout).toMatch(/\nS3\n/);
    expect(text.stdout).toMatch(/PutObject 2/);
    expect(text.stdout).toMatch(/\nUpload backlog\n/);
  });

  it('ls shows uploaded blobs in both tiers (the slow one from the catalog, without listing the bucket)', async () => {
    const r = await d.run(['ls', '--cas', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const entries = (JSON.parse(r.stdout) as { entries: LsEntry[] }).entries;
    expect(entries.map((e) => e.digest).sort()).toEqual(blobs.map((b) => `${b.hash}/${b.sizeBytes}`).sort());
    for (const e of entries) expect(e.tiers).toEqual(['fast', 'slow']);
    // ls sent no request to S3.
    const after = await stats();
    expect(after.s3.find((x) => x.store === 'CAS')!.requests.ListObjectsV2 ?? 0).toBe(0);
  });
});
