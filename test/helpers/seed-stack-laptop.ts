// One "laptop" running the config `ncache init --aws` writes by default (the
// seed's shape: verify > dedup { index: fast_slow, chunks: compression lz4 >
// fast_slow }, the AC a fast_slow; filesystem fast tiers, S3 written behind),
// rendered from templates/aws.json5 by template-configs.ts (listener on a
// free port, cache dir the fixture's data dir). S3 is reached the way a user
// points ncache at MinIO: AWS_ENDPOINT_URL_S3 (here the fault proxy). Each
// laptop has its own fast tiers and state dir (catalog, upload journal,
// control socket); its daemon's `stats` are read over that socket.
import { callMethod } from '../../src/daemon/control/client.js';
import { controlPaths } from '../../src/daemon/control/paths.js';
import type { StatsResult } from '../../src/daemon/control/stats.js';
import { DaemonFixture } from './daemon-process.js';
import { s3DaemonEnv } from './s3-daemon.js';
import { awsTemplateConfig } from './template-configs.js';
import { waitFor } from './wait-for.js';

export interface SeedStackTarget {
  /** Where the daemon sends S3 requests (the fault proxy). */
  readonly endpoint: string;
  readonly bucket: string;
  /** Objects go under `${prefix}index/`, `${prefix}dedup-cas/` and `${prefix}ac/`. */
  readonly prefix: string;
}

/** The init --aws config (filesystem fast tiers under `cacheDir`), no endpoint in it: the daemon reads AWS_ENDPOINT_URL_S3. */
export function seedStackConfigText(target: SeedStackTarget, cacheDir: string): string {
  return awsTemplateConfig({ bucket: target.bucket, prefix: target.prefix, tier: { kind: 'filesystem' }, cacheDir });
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
