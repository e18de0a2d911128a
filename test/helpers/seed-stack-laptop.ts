// One "laptop" running the config `ncache init --aws` writes by default (the
// seed's shape: verify > dedup { index: fast_slow, chunks: compression lz4 >
// fast_slow }, the AC a fast_slow; filesystem fast tiers, S3 written behind),
// rendered from templates/aws.json5 with only the listener (port 0) and the
// cache dir (the fixture's data dir) written in. S3 is reached the way a user
// points ncache at MinIO: AWS_ENDPOINT_URL_S3 (here the fault proxy). Each
// laptop has its own fast tiers and state dir (catalog, upload journal,
// control socket); its daemon's `stats` are read over that socket.
import { renderAwsConfig } from '../../src/commands/init/aws.js';
import { callMethod } from '../../src/daemon/control/client.js';
import { controlPaths } from '../../src/daemon/control/paths.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import { DaemonFixture } from './daemon-process.js';
import { s3DaemonEnv } from './s3-daemon.js';
import { waitFor } from './wait-for.js';

export interface SeedStackTarget {
  /** Where the daemon sends S3 requests (the fault proxy). */
  readonly endpoint: string;
  readonly bucket: string;
  /** Objects go under `${prefix}index/`, `${prefix}dedup-cas/` and `${prefix}ac/`. */
  readonly prefix: string;
}

/** The init --aws config text with its one listener on 127.0.0.1:0 and its fast tiers under `cacheDir`. */
export function seedStackConfigText(target: SeedStackTarget, cacheDir: string): string {
  const text = renderAwsConfig({ bucket: target.bucket, region: 'us-east-1', prefix: target.prefix });
  const listeners = text.match(/socket_address: "[^"]*"/g) ?? [];
  if (listeners.length !== 1) throw new Error(`templates/aws.json5 should have one listener, found ${listeners.length}`);
  return text.replace(listeners[0]!, 'socket_address: "127.0.0.1:0"').replaceAll('${NCACHE_CACHE_DIR}', cacheDir);
}

const laptopEnv = (target: SeedStackTarget) => (stateDir: string) => ({ ...s3DaemonEnv(stateDir), AWS_ENDPOINT_URL_S3: target.endpoint });

export function seedStackLaptop(target: SeedStackTarget): Promise<DaemonFixture> {
  return DaemonFixture.withLayout({
    prefix: 'ncache-seed-laptop-',
    configText: (dataDir) => seedStackConfigText(target, dataDir),
    env: laptopEnv(target),
    // A write-behind daemon flushes what it owes before it exits.
    stopTimeoutMs: 30_000,
  });
}

/** The `stats` document of the daemon running on a laptop, over its control socket. */
export function laptopStats(laptop: DaemonFixture): Promise<StatsResult> {
  return callMethod(controlPaths({ ...process.env, NCACHE_STATE_DIR: laptop.stateDir }).socketPath, 'stats', {});
}

/** Waits (bounded) until the laptop's write-behind owes the slow tier nothing. */
export async function writeBehindDrained(laptop: DaemonFixture, timeoutMs: number): Promise<void> {
  await waitFor(async () => (await laptopStats(laptop)).uploadBacklog.blobs === 0, {
    what: async () => `write-behind to drain; still owed: ${JSON.stringify((await laptopStats(laptop)).uploadBacklog)}`,
    timeoutMs,
    intervalMs: 200,
  });
}
