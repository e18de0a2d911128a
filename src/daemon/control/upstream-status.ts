// `status`'s upstreams: each REAPI server this daemon forwards to (grpc
// stores, grpc schedulers), asked for its Capabilities once per status call
// through a channel of its own (the same TLS, token and headers as the
// config's, no retry, a short deadline), all at once, so a cluster that is
// down costs status about PROBE_DEADLINE_MS, not a retry schedule each.
import type { UpstreamConnectionSpec, UpstreamEndpointSpec } from '../../config/types.js';
import type { ServerCapabilities } from '../../proto/reapi.js';
import { GET_CAPABILITIES } from '../../upstream/methods.js';
import { UpstreamChannel } from '../../upstream/channel.js';
import { errorMessage } from '../../util/errors.js';

/** How long one Capabilities call may take before the upstream counts as unreachable. */
export const PROBE_DEADLINE_MS = 2_000;

/** What an upstream said it supports, in REAPI's names. */
export interface UpstreamCapabilities {
  execEnabled: boolean;
  /** "SHA256", ...: the cache's digest functions. */
  digestFunctions: string[];
  /** Whether clients may write the action cache. */
  actionCacheUpdateEnabled: boolean;
  /** Summed blob bytes per batch call; 0 = no limit. */
  maxBatchTotalSizeBytes: number;
  /** "ZSTD", ...: compressors for ByteStream compressed-blobs (IDENTITY is implied and left out). */
  compressors: string[];
  /** "2.0-2.3". */
  apiVersions: string;
}

/** One upstream endpoint and instance, with what in the config uses it. */
export interface UpstreamStatus {
  /** "grpc://HOST:PORT" or "grpcs://HOST[:PORT]", as configured. */
  address: string;
  instanceName: string;
  /** What uses it: "store CAS (cas)", "store AC (ac)", "scheduler UPSTREAM". */
  usedBy: string[];
  reachable: boolean;
  /** Why not, when unreachable: the status code and message the call ended with. */
  error: string | null;
  /** Round trip of the Capabilities call (connection setup included); null when unreachable. */
  latencyMs: number | null;
  capabilities: UpstreamCapabilities | null;
}

/** One place in the config that connects upstream. */
export interface UpstreamUse {
  usedBy: string;
  /** Where its connection block is in the config, for messages. */
  configPath: string;
  connection: UpstreamConnectionSpec;
  instanceName: string;
}

const DIGEST_FUNCTIONS = ['UNKNOWN', 'SHA256', 'SHA1', 'MD5', 'VSO', 'SHA384', 'SHA512', 'MURMUR3', 'SHA256TREE', 'BLAKE3'];
const COMPRESSORS = ['IDENTITY', 'ZSTD', 'DEFLATE', 'BROTLI'];
const enumName = (names: readonly string[], value: number) => names[value] ?? `value ${value}`;

export function capabilitiesSummary(caps: ServerCapabilities): UpstreamCapabilities {
  const cache = caps.cacheCapabilities;
  const version = (v: ServerCapabilities['lowApiVersion']) => (v === null ? '?' : `${v.major}.${v.minor}`);
  return {
    execEnabled: caps.executionCapabilities?.execEnabled ?? false,
    digestFunctions: (cache?.digestFunctions ?? []).map((d) => enumName(DIGEST_FUNCTIONS, d)),
    actionCacheUpdateEnabled: cache?.actionCacheUpdateCapabilities?.updateEnabled ?? false,
    maxBatchTotalSizeBytes: cache?.maxBatchTotalSizeBytes ?? 0,
    compressors: (cache?.supportedCompressors ?? []).filter((c) => c !== 0).map((c) => enumName(COMPRESSORS, c)),
    apiVersions: `${version(caps.lowApiVersion)}-${version(caps.highApiVersion)}`,
  };
}

/** One Capabilities call to one endpoint: its own channel, no retry, PROBE_DEADLINE_MS. */
async function probe(use: UpstreamUse, endpoint: UpstreamEndpointSpec): Promise<Omit<UpstreamStatus, 'usedBy'>> {
  const base = { address: endpoint.address, instanceName: use.instanceName };
  const started = Date.now();
  let channel: UpstreamChannel | undefined;
  try {
    channel = new UpstreamChannel(
      {
        ...use.connection,
        endpoints: [endpoint],
        connections_per_endpoint: 1,
        max_concurrent_requests: 0,
        rpc_timeout_s: PROBE_DEADLINE_MS / 1000,
        retry: { ...use.connection.retry, max_retries: 0 },
      },
      { configPath: use.configPath },
    );
    const caps = await channel.unary(GET_CAPABILITIES, { instanceName: use.instanceName }, use.instanceName);
    return { ...base, reachable: true, error: null, latencyMs: Date.now() - started, capabilities: capabilitiesSummary(caps) };
  } catch (err) {
    return { ...base, reachable: false, error: errorMessage(err), latencyMs: null, capabilities: null };
  } finally {
    channel?.close();
  }
}

/** Probes each distinct (endpoint, instance, credentials) once, in parallel; one row each, listing its users. */
export async function probeUpstreams(uses: readonly UpstreamUse[]): Promise<UpstreamStatus[]> {
  const rows = new Map<string, { use: UpstreamUse; endpoint: UpstreamEndpointSpec; usedBy: string[] }>();
  for (const use of uses) {
    for (const endpoint of use.connection.endpoints) {
      const { token_file, headers } = use.connection;
      const key = JSON.stringify([endpoint.address, endpoint.tls_config ?? null, use.instanceName, token_file ?? null, headers]);
      const row = rows.get(key);
      if (row === undefined) rows.set(key, { use, endpoint, usedBy: [use.usedBy] });
      else row.usedBy.push(use.usedBy);
    }
  }
  return Promise.all(
    [...rows.values()].map(async (r): Promise<UpstreamStatus> => {
      const { address, instanceName, ...answer } = await probe(r.use, r.endpoint);
      return { address, instanceName, usedBy: r.usedBy, ...answer };
    }),
  );
}
