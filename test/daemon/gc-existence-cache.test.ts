// A daemon (serve in a child process) whose CAS is an existence_cache over a
// filesystem store: after `ncache gc` evicts a blob from the filesystem leaf,
// FindMissingBlobs over real gRPC must report it missing. Before gc told the
// layers above a leaf to forget what it removed, the existence cache kept
// answering "present", so Bazel skipped the upload and a result named a
// blob nobody held.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcReport } from '../../src/maintenance/gc.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { loopbackServers } from '../helpers/config-servers.js';
import { deterministicBytes } from '../helpers/data.js';
import { ReapiClient } from '../helpers/grpc-client.js';

function configText(): string {
  const filesystem = (name: string) => ({
    filesystem: {
      content_path: `\${NCACHE_TEST_DIR}/data/${name}/content`,
      temp_path: `\${NCACHE_TEST_DIR}/data/${name}/tmp`,
    },
  });
  return JSON.stringify({
    stores: [
      { name: 'CAS', existence_cache: { backend: filesystem('cas') } },
      { name: 'AC', ...filesystem('ac') },
    ],
    servers: loopbackServers(),
  });
}

describe('gc under an existence_cache', () => {
  let d: CliDaemon;
  let client: ReapiClient;

  beforeAll(async () => {
    d = await startCliDaemon({ configText: configText() });
    client = new ReapiClient(d.address);
  });

  afterAll(async () => {
    client?.close();
    await d?.stop();
  });

  it('FindMissingBlobs reports the blobs gc evicted as missing', async () => {
    const blobs = [await client.uploadBlob(deterministicBytes(8 * 1024, 1)), await client.uploadBlob(deterministicBytes(8 * 1024, 2))];
    // Asked once, so the existence cache remembers both as present.
    const before = await client.findMissingBlobs({ instanceName: '', blobDigests: blobs });
    expect(before.missingBlobDigests).toEqual([]);

    const r = await d.run(['gc', '--target-size', '0', '--json'], { env: { CI: '1' } });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as GcReport;
    const casLeaf = report.tiers.find((t) => t.id.startsWith('CAS.'));
    expect(casLeaf?.evicted.count).toBe(2);

    const after = await client.findMissingBlobs({ instanceName: '', blobDigests: blobs });
    expect(after.missingBlobDigests.map((m) => m.hash).sort()).toEqual(blobs.map((b) => b.hash).sort());
  });
});
