// The issue's crash test through the real CLI and a real S3 endpoint: `ncache
// serve` with a write-behind CAS whose S3 endpoint refuses connections accepts
// uploads over gRPC, is killed with SIGKILL, and is restarted on the same state
// and fast tier pointing at s3rver; every acknowledged blob arrives in the bucket.
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/stores/s3/client.js';
import { digestKey, digestOf } from '../../src/util/digest.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { s3rverEnv, startS3rver } from '../helpers/s3rver.js';
import { closedPort } from '../helpers/ports.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();

function config(dir: string, endpoint: string, bucket: string): string {
  return JSON.stringify({
    stores: [
      {
        name: 'CAS',
        fast_slow: {
          fast: { filesystem: { content_path: join(dir, 'fast', 'c'), temp_path: join(dir, 'fast', 't') } },
          slow: {
            experimental_cloud_object_store: {
              provider: 'aws',
              region: 'us-east-1',
              bucket,
              key_prefix: 'cas/',
              endpoint,
              force_path_style: true,
              retry: { max_retries: 1, delay: 0.01, jitter: 0 },
            },
          },
          slow_write_mode: 'async',
        },
      },
    ],
    servers: [
      {
        listener: { http: { socket_address: '127.0.0.1:0' } },
        services: { cas: [{ cas_store: 'CAS' }], bytestream: { cas_stores: { '': 'CAS' } } },
      },
    ],
  });
}

/** Resolves when `daemon`'s log contains `text` (its own readiness signal), or rejects if it exits first. */
function logLine(daemon: DaemonProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (daemon.stderr().includes(text)) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    void daemon.exited.then(() => {
      clearInterval(timer);
      reject(new Error(`daemon exited before logging "${text}":\n${daemon.stderr()}`));
    });
  });
}

describe('write-behind through ncache serve across a SIGKILL', () => {
  it('uploads every acknowledged blob to S3 after a restart', async () => {
    const dir = await tempDir('ncache-sigkill-s3-', cleanups);
    const s3 = await startS3rver();
    cleanups.push(() => s3.stop());
    const env = { ...s3rverEnv(), NCACHE_STATE_DIR: join(dir, 'state'), NCACHE_LOG_LEVEL: 'info' };
    delete (env as NodeJS.ProcessEnv).AWS_ENDPOINT_URL_S3;

    const down = join(dir, 'down.json5');
    await writeFile(down, config(dir, `http://127.0.0.1:${await closedPort()}`, s3.bucket));
    const first = await DaemonProcess.start({ configPath: down, env });
    cleanups.push(() => first.stop({ timeoutMs: 5000 }));
    const client = new ReapiClient(first.address);
    const blobs = Array.from({ length: 8 }, (_, i) => Buffer.alloc(20_000 + i * 50_000, i + 1));
    for (const b of blobs) await client.uploadBlob(b); // each acknowledged
    client.close();
    process.kill(first.pid, 'SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const up = join(dir, 'up.json5');
    await writeFile(up, config(dir, s3.endpoint, s3.bucket));
    const second = await DaemonProcess.start({ configPath: up, env });
    cleanups.push(() => second.stop({ timeoutMs: 5000 }));
    await logLine(second, 'write-behind backlog drained');
    expect(second.stderr()).toContain(`resuming ${blobs.length} uploads`);

    const s3client = createS3Client(
      { kind: 'experimental_cloud_object_store', endpoint: s3.endpoint, force_path_style: true, region: 'us-east-1' } as never,
      s3rverEnv(),
    );
    for (const b of blobs) {
      const got = await s3client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `cas/${digestKey(digestOf(b))}` }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(b)).toBe(true);
    }
    s3client.destroy();
  }, 60_000);
});
