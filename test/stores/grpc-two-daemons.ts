// Two real daemons over loopback (in process, startDaemon): a "cluster" with
// filesystem stores serving instance "main" on a port it keeps across
// restarts, and a "laptop" whose CAS and AC are fast_slow { fast: filesystem,
// slow: grpc } pointing at the cluster, serving the default instance.
import { join } from 'node:path';
import type { GrpcStoreSpec, NcacheConfig, StoreSpec } from '../../src/config/types.js';
import { type RunningDaemon, startDaemon } from '../../src/daemon/daemon.js';
import { fixtureConfig } from '../daemon/fixture.js';
import type { Digest } from '../../src/util/digest.js';
import { storesListing } from '../helpers/catalog-entries.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { closedPort } from '../helpers/ports.js';
import { type Cleanups, tempDir } from '../helpers/temp-dir.js';

export const CLUSTER_INSTANCE = 'main';

export interface Cluster {
  /** "grpc://127.0.0.1:PORT". */
  readonly url: string;
  readonly port: number;
  /** A client of the cluster itself (instance "main"). */
  readonly client: ReapiClient;
  readonly running: boolean;
  /** Stops at once (in-flight calls are cut), keeping its stores. */
  stop(): Promise<void>;
  /** Starts again on the same port and stores. */
  start(): Promise<void>;
}

export async function startCluster(cleanups: Cleanups): Promise<Cluster> {
  const dir = await tempDir('ncache-cluster-', cleanups);
  const port = await closedPort();
  const config = fixtureConfig(dir, { storeKind: 'filesystem', instanceName: CLUSTER_INSTANCE });
  config.servers[0]!.listener.http.socket_address = `127.0.0.1:${port}`;
  let daemon: RunningDaemon | undefined;
  const client = new ReapiClient(`127.0.0.1:${port}`);
  const cluster: Cluster = {
    url: `grpc://127.0.0.1:${port}`,
    port,
    client,
    get running() {
      return daemon !== undefined;
    },
    async stop() {
      const d = daemon;
      daemon = undefined;
      await d?.stop({ graceMs: 0 });
    },
    async start() {
      daemon = await startDaemon({ config, stateDir: join(dir, 'state') });
    },
  };
  await cluster.start();
  cleanups.push(async () => {
    client.close();
    await cluster.stop();
  });
  return cluster;
}

export interface LaptopOptions {
  retry?: GrpcStoreSpec['retry'];
  /** The address the laptop's grpc stores dial (default the cluster's). */
  upstreamUrl?: string;
}

export function grpcSpec(url: string, storeType: 'cas' | 'ac', opts: LaptopOptions = {}): GrpcStoreSpec {
  return {
    kind: 'grpc',
    instance_name: CLUSTER_INSTANCE,
    store_type: storeType,
    endpoints: [{ address: url, concurrency_limit: 0, http2_keepalive_interval_s: 0, http2_keepalive_timeout_s: 0 }],
    retry: opts.retry ?? { max_retries: 3, delay: 0.01, jitter: 0 },
    max_concurrent_requests: 0,
    connections_per_endpoint: 1,
    rpc_timeout_s: 0,
    headers: {},
  };
}

export interface Laptop {
  readonly daemon: RunningDaemon;
  readonly client: ReapiClient;
  readonly config: NcacheConfig;
  /** The fast tier's content directory of the CAS. */
  readonly casContent: string;
  /** Whether the CAS's fast tier lists `key` (a file, or a small value kept inline in the catalog). */
  fastTierHolds(key: Digest): boolean;
  stop(): Promise<void>;
}

/** A fresh laptop (empty fast tiers) in front of `cluster`. */
export async function startLaptop(cleanups: Cleanups, clusterUrl: string, opts: LaptopOptions = {}): Promise<Laptop> {
  const dir = await tempDir('ncache-laptop-', cleanups);
  const fast = (name: string): StoreSpec => ({
    kind: 'filesystem',
    content_path: join(dir, name, 'content'),
    temp_path: join(dir, name, 'tmp'),
    read_buffer_size: 256 * 1024,
    block_size: 4096,
  });
  const tiers = (name: string, storeType: 'cas' | 'ac'): StoreSpec => ({
    kind: 'fast_slow',
    fast: fast(name),
    slow: grpcSpec(opts.upstreamUrl ?? clusterUrl, storeType, opts),
    fast_direction: 'both',
    slow_direction: 'both',
  });
  const config = fixtureConfig(dir, {
    completeness: false,
    edit: (c) => {
      c.stores = [
        { name: 'CAS', spec: tiers('cas', 'cas') },
        { name: 'AC', spec: tiers('ac', 'ac') },
      ];
    },
  });
  const daemon = await startDaemon({ config, stateDir: join(dir, 'state') });
  const client = new ReapiClient(daemon.addresses[0]!);
  let stopped = false;
  const laptop: Laptop = {
    daemon,
    client,
    config,
    casContent: join(dir, 'cas', 'content'),
    fastTierHolds: (key) => storesListing(join(dir, 'state'), key).includes('CAS.fast_slow.fast'),
    async stop() {
      if (stopped) return;
      stopped = true;
      client.close();
      await daemon.stop({ graceMs: 1000 });
    },
  };
  cleanups.push(() => laptop.stop());
  return laptop;
}
