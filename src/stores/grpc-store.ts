// The `grpc` store (NativeLink's key): another REAPI server's CAS or AC
// (NativeLink, Buildbarn, BuildBuddy, another ncache) reached through the
// upstream client layer (src/upstream/). One channel per store; the kind's
// two flavours live in stores/grpc/.
import type { GrpcStoreSpec } from '../config/types.js';
import { UpstreamChannel } from '../upstream/channel.js';
import { GrpcAcStore } from './grpc/grpc-ac-store.js';
import { GrpcCasStore, type GrpcCasTuning } from './grpc/grpc-cas-store.js';
import type { StoreContext } from './store-context.js';
import type { StoreDriver } from './store.js';

/** `path` is the store's place in the config ("stores[1].fast_slow.slow"), for messages. */
export function createGrpcStore(spec: GrpcStoreSpec, ctx: StoreContext, path: string, tuning: GrpcCasTuning = {}): StoreDriver {
  const channel = new UpstreamChannel(spec, { configPath: `${path}.grpc`, logger: ctx.logger });
  return spec.store_type === 'cas' ? new GrpcCasStore(spec, channel, tuning) : new GrpcAcStore(spec, channel, ctx.clock);
}
