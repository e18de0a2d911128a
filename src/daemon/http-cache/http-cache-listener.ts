// One `listener.http_cache` entry: a node:http (or node:https) server with
// the HttpCacheServer behind it, over the stores its services name, with
// the listener's limits, TLS and bearer tokens. Keep-alive is on (Bazel
// reuses its connections); an idle connection closes after idle_timeout, an
// upload that stalls for upload_stall_timeout is dropped and nothing stored.
import { type Server, createServer as createHttpServer } from 'node:http';
import { type Server as HttpsServer, createServer as createHttpsServer } from 'node:https';
import { serverLabel } from '../../config/schema-servers.js';
import { type ServiceBinding, bindingsOf, serverBindings } from '../../config/service-bindings.js';
import type { ServerSpec } from '../../config/types.js';
import type { StoreDriver } from '../../stores/store.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { AcServer, type AcInstance } from '../ac-server.js';
import { listenerAuth } from '../auth/listener-auth.js';
import { InstanceMap } from '../instances.js';
import { listenerLimits } from '../limits.js';
import type { Metrics } from '../metrics.js';
import { contextOptions, followTlsFiles } from '../tls.js';
import { HttpCacheServer } from './http-cache-server.js';
import { listenOn } from '../listen-on.js';

export interface HttpCacheListenerDeps {
  /** The store a binding names, wrapped as the gRPC services get it (pinned while a request uses a key). */
  readonly storeFor: (binding: ServiceBinding) => StoreDriver;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface HttpCacheListener {
  /** "HOST:PORT" as bound (the real port when the config said :0). */
  readonly address: string;
  /** Stops accepting; requests in flight get `graceMs` to finish, then their connections are cut. */
  stop(graceMs: number): Promise<void>;
}

export async function startHttpCacheListener(spec: ServerSpec, index: number, deps: HttpCacheListenerDeps): Promise<HttpCacheListener> {
  const http = spec.listener.http;
  const where = serverLabel(spec, index);
  const bindings = serverBindings(spec, index);
  const limits = listenerLimits(http);
  let boundAddress: string | undefined;
  const auth = listenerAuth(spec, index, { clock: deps.clock, logger: deps.logger, boundAddress: () => boundAddress });
  const cas = bindingsOf(bindings, 'cas');
  const ac = bindingsOf(bindings, 'ac');
  const handler = new HttpCacheServer({
    cas: cas.length === 0 ? undefined : new InstanceMap('CAS', new Map(cas.map((b) => [b.instance, deps.storeFor(b)]))),
    ac:
      ac.length === 0
        ? undefined
        : new AcServer({
            // Nothing is inlined over HTTP: outputs are fetched from /cas.
            instances: new InstanceMap('action cache', new Map(ac.map((b): [string, AcInstance] => [b.instance, { store: deps.storeFor(b), readOnly: b.readOnly, cas: undefined }]))),
            logger: deps.logger,
          }),
    limits,
    metrics: deps.metrics,
    logger: deps.logger,
    ...(auth === undefined ? {} : { auth }),
  }).handle;

  const tlsSpec = http.tls;
  let httpsServer: HttpsServer | undefined;
  // New connections get each good set of files; open ones keep theirs.
  const tls = tlsSpec === undefined ? undefined : followTlsFiles(tlsSpec, where, `servers[${index}].listener.http_cache.tls`, deps.logger, (m) => httpsServer?.setSecureContext(contextOptions(m)));
  const mtls = tlsSpec?.client_ca_file !== undefined;
  if (tls !== undefined) httpsServer = createHttpsServer({ ...contextOptions(tls.material), requestCert: mtls, rejectUnauthorized: mtls }, handler);
  const server: Server = httpsServer ?? createHttpServer(handler);
  // Expect: 100-continue reaches the handler, which answers it only for an upload it accepts.
  server.on('checkContinue', handler);
  // An upload of gigabytes may take longer than any fixed request deadline; a stall is what ends it.
  server.requestTimeout = 0;
  server.timeout = limits.uploadStallMs;
  server.keepAliveTimeout = limits.idleTimeoutMs;
  try {
    boundAddress = await listenOn(server, http.socket_address, `${where}.listener.http_cache.socket_address`);
  } catch (err) {
    tls?.close();
    throw err;
  }
  const address = boundAddress;
  return {
    address,
    async stop(graceMs) {
      tls?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}
