// The shared set-up of the end-to-end S3 tests: s3rver with one bucket, the
// counting fault proxy in front of it, a copy of the Bazel fixture workspace,
// and "laptops" (s3DaemonFixture) pointed at the proxy; cleanup() takes it all
// down in the right order (S3 back up first, so stopping daemons can flush).
import { BazelWorkspace } from './bazel.js';
import { FaultProxy } from './fault-proxy.js';
import type { DaemonFixture } from './daemon-process.js';
import { s3DaemonFixture } from './s3-daemon.js';
import { type S3rverHandle, startS3rver } from './s3rver.js';

export class S3World {
  private readonly laptops: DaemonFixture[] = [];

  private constructor(
    readonly s3: S3rverHandle,
    readonly proxy: FaultProxy,
    readonly ws: BazelWorkspace,
  ) {}

  static async start(bucket: string): Promise<S3World> {
    const s3 = await startS3rver({ buckets: [bucket] });
    const proxy = await FaultProxy.start(s3.endpoint);
    const ws = await BazelWorkspace.create({ fixture: 'bazel-workspace' });
    return new S3World(s3, proxy, ws);
  }

  /** A daemon fixture with its own fast tier and state dir, sharing the bucket under `keyPrefix`. */
  async laptop(keyPrefix: string): Promise<DaemonFixture> {
    const laptop = await s3DaemonFixture({ endpoint: this.proxy.endpoint, bucket: this.s3.bucket, keyPrefix });
    this.laptops.push(laptop);
    return laptop;
  }

  async cleanup(): Promise<void> {
    this.proxy.setDown(false);
    await this.ws.cleanup();
    for (const laptop of this.laptops) await laptop.cleanup();
    await this.proxy.close();
    await this.s3.stop();
  }
}
