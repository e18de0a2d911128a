// Building UpstreamChannels for tests: a spec with NativeLink's defaults and
// no retries unless asked, closed after the test.
import type { UpstreamConnectionSpec, UpstreamEndpointSpec } from '../../src/config/types.js';
import { UpstreamChannel, type UpstreamChannelOptions } from '../../src/upstream/channel.js';
import type { Cleanups } from '../helpers/temp-dir.js';

export function endpoint(address: string, more: Partial<UpstreamEndpointSpec> = {}): UpstreamEndpointSpec {
  return { address, concurrency_limit: 0, http2_keepalive_interval_s: 0, http2_keepalive_timeout_s: 0, ...more };
}

export function connectionSpec(endpoints: UpstreamEndpointSpec[], more: Partial<UpstreamConnectionSpec> = {}): UpstreamConnectionSpec {
  return {
    endpoints,
    retry: { max_retries: 0, delay: 0, jitter: 0 },
    max_concurrent_requests: 0,
    connections_per_endpoint: 1,
    rpc_timeout_s: 0,
    headers: {},
    ...more,
  };
}

/** A channel (closed by `cleanups`) whose backoff does not sleep. */
export function openChannel(
  spec: UpstreamConnectionSpec,
  cleanups: Cleanups,
  options: Partial<UpstreamChannelOptions> = {},
): UpstreamChannel {
  const channel = new UpstreamChannel(spec, { configPath: 'stores[0].grpc', sleep: async () => {}, ...options });
  cleanups.push(() => channel.close());
  return channel;
}
