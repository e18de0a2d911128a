// The config `ncache init --aws --exec` writes, run by a real daemon over
// s3rver: an action sent with a grpc-js Execute runs on the local worker,
// whose whole-file tier sits in front of the S3-backed CAS, and its output
// reaches Bazel's CAS (read back over ByteStream) and the bucket.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAwsConfig } from '../../src/commands/init/aws.js';
import { thisMachine } from '../../src/commands/init/exec.js';
import { checkListen } from '../../src/commands/init/listen.js';
import type { StatusResult } from '../../src/daemon/control/status.js';
import { ActionCodec, CommandCodec, DirectoryCodec, ExecuteResponseCodec } from '../../src/proto/reapi.js';
import { type CliDaemon, startCliDaemon } from '../helpers/cli-daemon.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { type S3rverHandle, s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { execConfigOnFreePorts } from '../helpers/template-configs.js';
import { waitFor } from '../helpers/wait-for.js';

const PREFIX = 'exec/';

describe('ncache init --aws --exec, served over s3rver', () => {
  let s3: S3rverHandle;
  let d: CliDaemon;
  let client: ReapiClient;

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['team-cache'] });
    const text = renderAwsConfig(
      { bucket: 'team-cache', region: 'us-east-1', prefix: PREFIX, endpoint: s3.endpoint },
      false,
      { kind: 'filesystem' },
      checkListen(undefined, []),
      thisMachine(),
    );
    d = await startCliDaemon({ configText: await execConfigOnFreePorts(text), env: s3rverEnv() });
    client = new ReapiClient(d.address);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await d?.stop();
    await s3?.stop();
  });

  /** Keys of the objects s3rver holds under a prefix, from its own files. */
  async function objectsIn(prefix: string): Promise<string[]> {
    const bucketDir = join(s3.dir, 'team-cache');
    if (!existsSync(bucketDir)) return [];
    const files = await readdir(bucketDir, { recursive: true });
    return files
      .map((f) => f.replaceAll(sep, '/'))
      .filter((f) => f.endsWith('._S3rver_object'))
      .map((f) => f.slice(0, -'._S3rver_object'.length))
      .filter((key) => key.startsWith(prefix));
  }

  it('runs an action on the local worker; its output is in the CAS Bazel reads and reaches the bucket', async () => {
    const status = (await d.run(['status', '--json'])).stdout;
    expect((JSON.parse(status) as StatusResult).schedulers[0]!.workers).toHaveLength(1);

    const text = `made by the worker ${Date.now()}\n`;
    const commandDigest = await client.uploadBlob(
      CommandCodec.encode({ arguments: ['/bin/sh', '-c', `printf '%s' '${text}' > out.txt`], outputFiles: ['out.txt'] }),
    );
    const inputRootDigest = await client.uploadBlob(DirectoryCodec.encode({}));
    const actionDigest = await client.uploadBlob(ActionCodec.encode({ commandDigest, inputRootDigest }));
    const ops = await client.execute({ instanceName: '', actionDigest });
    const last = ops.at(-1)!;
    expect(last.done).toBe(true);
    const response = ExecuteResponseCodec.decode(last.response!.value) as { result?: { exitCode?: number; outputFiles?: { path: string; digest: { hash: string; sizeBytes: number } }[] } };
    expect(response.result?.exitCode ?? 0).toBe(0);
    const out = response.result?.outputFiles?.find((f) => f.path === 'out.txt');
    expect(out).toBeDefined();

    // Through Bazel's CAS (verify > dedup > S3 tiers), and in the action cache.
    expect((await client.read(`blobs/${out!.digest.hash}/${out!.digest.sizeBytes}`)).toString()).toBe(text);
    const cached = await client.getActionResult({ instanceName: '', actionDigest });
    expect(cached.outputFiles.map((f) => f.digest?.hash)).toEqual([out!.digest.hash]);

    // Written behind to the bucket: the output's dedup index entry.
    await waitFor(async () => (await objectsIn(`${PREFIX}index/`)).includes(`${PREFIX}index/${out!.digest.hash}-${out!.digest.sizeBytes}`), {
      what: `the output's index entry under ${PREFIX}index/ in the bucket`,
    });
  });
});
