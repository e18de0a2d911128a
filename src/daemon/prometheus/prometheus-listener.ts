// A gRPC listener that lists experimental_prometheus: its port shared between
// the gRPC services and the metrics endpoint, with the listener's own TLS,
// limits and bearer tokens. daemon.ts calls this instead of GrpcListener.listen.
import type { ServerSpec } from '../../config/types.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { listenerAuth } from '../auth/listener-auth.js';
import type { GrpcListener } from '../grpc-server/listener.js';
import type { DaemonRegistry } from './daemon-registry.js';
import { metricsEndpoint } from './metrics-endpoint.js';
import { type SharedPort, listenSharedPort } from './shared-port.js';

export interface PrometheusListenerDeps {
  readonly registry: DaemonRegistry;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** `metricsPath`: the listener's experimental_prometheus.path. */
export async function listenWithMetrics(grpc: GrpcListener, spec: ServerSpec, index: number, metricsPath: string, deps: PrometheusListenerDeps): Promise<SharedPort> {
  let bound: string | undefined;
  const auth = listenerAuth(spec, index, { clock: deps.clock, logger: deps.logger, boundAddress: () => bound });
  const http = metricsEndpoint({ path: metricsPath, registry: deps.registry, auth, logger: deps.logger });
  const port = await listenSharedPort({ grpc, spec, index, http, logger: deps.logger });
  bound = port.address;
  return port;
}
