// One "laptop" running the config `ncache init --aws` writes by default (the
// seed's shape: verify > dedup { index: fast_slow, chunks: compression lz4 >
// fast_slow }, the AC a fast_slow; filesystem fast tiers under
// NCACHE_CACHE_DIR, S3 written behind), rendered from templates/aws.json5
// with only the listener moved to port 0. S3 is reached the way a user points
// ncache at MinIO: AWS_ENDPOINT_URL_S3 (here the fault proxy). Each laptop has
// its own fast tiers and state dir (catalog, upload journal, control socket).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderAwsConfig } from '../../src/commands/init/aws.js';
import { callMethod } from '../../src/daemon/control/client.js';
import { controlPaths } from '../../src/daemon/control/paths.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import { DaemonProcess } from './daemon-process.js';
import { s3DaemonEnv } from './s3-daemon.js';
import { waitFor } from './wait-for.js';

export interface SeedStackTarget {
  /** Where the daemon sends S3 requests (the fault proxy). */
  readonly endpoint: string;
  readonly bucket: string;
  /** Objects go under `${prefix}index/`, `${prefix}dedup-cas/` and `${prefix}ac/`. */
  readonly prefix: string;
}

/** The init --aws config text with its one listener on 127.0.0.1:0. */
export function seedStackConfigText(target: SeedStackTarget): string {
  const text = renderAwsConfig({ bucket: target.bucket, region: 'us-east-1', prefix: target.prefix });
  const listeners = text.match(/socket_address: "[^"]*"/g) ?? [];
  if (listeners.length !== 1) throw new Error(`templates/aws.json5 should have one listener, found ${listeners.length}`);
  return text.replace(listeners[0]!, 'socket_address: "127.0.0.1:0"');
}

export class SeedStackLaptop {
  private daemon: DaemonProcess | undefined;

  private constructor(
    readonly dir: string,
    private readonly configPath: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async create(target: SeedStackTarget): Promise<SeedStackLaptop> {
    const dir = await mkdtemp(join(tmpdir(), 'ncache-seed-laptop-'));
    const stateDir = join(dir, 'state');
    await mkdir(stateDir, { recursive: true });
    const configPath = join(dir, 'config.json5');
    await writeFile(configPath, seedStackConfigText(target));
    const env = { ...s3DaemonEnv(stateDir), NCACHE_CACHE_DIR: join(dir, 'cache'), AWS_ENDPOINT_URL_S3: target.endpoint };
    return new SeedStackLaptop(dir, configPath, env);
  }

  async start(): Promise<DaemonProcess> {
    if (this.daemon?.running) throw new Error(`a daemon already runs on ${this.dir}`);
    this.daemon = await DaemonProcess.start({ configPath: this.configPath, env: this.env });
    return this.daemon;
  }

  /** The running daemon's `stats` document, over its control socket. */
  stats(): Promise<StatsResult> {
    return callMethod(controlPaths({ ...process.env, ...this.env }).socketPath, 'stats', {});
  }

  /** Waits until write-behind owes the slow tier nothing (bounded). */
  async drained(timeoutMs: number): Promise<void> {
    await waitFor(async () => (await this.stats()).uploadBacklog.blobs === 0, {
      what: async () => `write-behind to drain; still owed: ${JSON.stringify((await this.stats()).uploadBacklog)}`,
      timeoutMs,
      intervalMs: 200,
    });
  }

  async cleanup(): Promise<void> {
    await this.daemon?.stop({ timeoutMs: 30_000 });
    await rm(this.dir, { recursive: true, force: true });
  }
}
