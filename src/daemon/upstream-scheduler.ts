// A `grpc` scheduler with its connection: one channel to the upstream for its
// Execute and WaitExecution calls and for the CAS calls around them (a grpc
// CAS store per instance name, on the same channel, which the scheduler's
// close() closes). Its own module so that execution-setup.ts imports it, and
// @grpc/grpc-js under it, only for a config that forwards actions upstream.
import type { UpstreamConnectionSpec } from '../config/types.js';
import { GrpcScheduler } from '../scheduler/grpc-scheduler.js';
import { GrpcCasStore } from '../stores/grpc/grpc-cas-store.js';
import type { StoreDriver } from '../stores/store.js';
import { UpstreamChannel } from '../upstream/channel.js';
import { ExecutionClient } from '../upstream/execution-client.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

export function upstreamScheduler(
  name: string,
  connection: UpstreamConnectionSpec,
  at: string,
  deps: { readonly logger: Logger; readonly clock: Clock },
): GrpcScheduler {
  const channel = new UpstreamChannel(connection, { configPath: at, logger: deps.logger });
  const casByInstance = new Map<string, StoreDriver>();
  const upstreamCas = (instance: string): StoreDriver => {
    let cas = casByInstance.get(instance);
    if (cas === undefined) {
      cas = new GrpcCasStore({ kind: 'grpc', ...connection, instance_name: instance, store_type: 'cas' }, channel);
      casByInstance.set(instance, cas);
    }
    return cas;
  };
  return new GrpcScheduler({ name, upstream: new ExecutionClient(channel), upstreamCas, logger: deps.logger, clock: deps.clock });
}
