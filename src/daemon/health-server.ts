// grpc.health.v1.Health: SERVING for the server as a whole ("") and for each
// service it registered. Watch streams stay open until the daemon stops.
import type { ServerStreamCall } from './grpc-server/calls.js';
import {
  HEALTH_NOT_SERVING,
  HEALTH_SERVICE_UNKNOWN,
  HEALTH_SERVING,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthHandlers,
  type MessageInit,
} from '../proto/reapi.js';
import { notFound } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { unaryHandler } from './call-utils.js';

type Watcher = ServerStreamCall<HealthCheckRequest, MessageInit<HealthCheckResponse>>;

export class HealthServer {
  private readonly services: Set<string>;
  private readonly watchers = new Set<Watcher>();
  private serving = true;

  /** `services`: full names of the gRPC services served next to this one. */
  constructor(services: Iterable<string>, private readonly logger: Logger) {
    this.services = new Set(['', ...services]);
  }

  handlers(): HealthHandlers {
    return {
      check: unaryHandler('HealthServer.check', this.logger, async (req) => {
        if (!this.services.has(req.service)) throw notFound(`unknown service ${JSON.stringify(req.service)}`);
        return { status: this.serving ? HEALTH_SERVING : HEALTH_NOT_SERVING };
      }),
      watch: (call) => this.watch(call),
    };
  }

  private watch(call: Watcher): void {
    const status = !this.services.has(call.request.service)
      ? HEALTH_SERVICE_UNKNOWN
      : this.serving
        ? HEALTH_SERVING
        : HEALTH_NOT_SERVING;
    call.write({ status });
    if (!this.serving) {
      call.end();
      return;
    }
    this.watchers.add(call);
    const forget = () => this.watchers.delete(call);
    call.once('cancelled', forget);
    call.once('close', forget);
  }

  /** Tells watchers the server is going away and ends their streams, so a graceful shutdown is not held open. */
  shutdown(): void {
    this.serving = false;
    for (const call of this.watchers) {
      if (this.services.has(call.request.service)) call.write({ status: HEALTH_NOT_SERVING });
      call.end();
    }
    this.watchers.clear();
  }
}
