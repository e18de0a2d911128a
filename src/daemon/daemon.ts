// The composition root: stores from the config, one gRPC server per
// `servers[]` entry with the services that entry lists, and an orderly stop.
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import type * as http2 from 'node:http2';
import { join } from 'node:path';
import { Catalog } from '../catalog/catalog.js';
import { configEnv } from '../config/dirs.js';
import { type ServiceBinding, bindingsOf, serverBindings } from '../config/service-bindings.js';
import type { NcacheConfig, ServerSpec } from '../config/types.js';
import { SERVICE_NAMES, serviceDefinition } from '../proto/reapi.js';
import { PinningStore, pinsFor } from '../maintenance/pinning-store.js';
import { StoreManager } from '../stores/factory.js';
import { loadStoreKinds } from '../stores/optional-kinds.js';
import { type StoreDriver, walkStores } from '../stores/store.js';
import type { StoreStats } from '../stores/store-stats.js';
import { type Clock, systemClock } from '../util/clock.js';
import { NcacheError, errorMessage, withContext } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { ncacheVersion } from '../util/version.js';
import { AcServer, type AcInstance } from './ac-server.js';
import { ByteStreamServer } from './bytestream-server.js';
import { CapabilitiesServer, type InstanceCapabilities } from './capabilities-server.js';
import { CasServer } from './cas-server.js';
import { ExecutionServer } from './execution-server.js';
import { CONTROL_METHODS } from './control/methods.js';
import { removePidFile, writePidFile } from './control/pid-file.js';
import { type ControlServer, startControlServer } from './control/server.js';
import type { ControlContext } from './control/types.js';
import { HealthServer } from './health-server.js';
import { instrumentService } from './instrument.js';
import { InstanceMap } from './instances.js';
import { HTTP2_CONNECTION_WINDOW_BYTES, HTTP2_STREAM_WINDOW_BYTES, MAX_GRPC_MESSAGE_BYTES } from './limits.js';
import { Metrics } from './metrics.js';

export interface DaemonOptions {
  config: NcacheConfig;
  logger?: Logger;
  clock?: Clock;
  /**
   * Where the daemon keeps its state (the catalog). Default: $NCACHE_STATE_DIR,
   * else $NCACHE_CACHE_DIR, else the cache directory (~/.cache/ncache).
   */
  stateDir?: string;
  /** Environment for remote stores (AWS credentials, region, AWS_ENDPOINT_URL_S3). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Serve the admin API (status, stop, ls, ...) on this Unix socket (src/daemon/control/). */
  control?: ControlOptions;
}

export interface ControlOptions {
  socketPath: string;
  /** The pid file: read to name a daemon that already owns the socket; written once this one is ready, removed when it has stopped. */
  pidFile?: string;
  /** Shown by `status`: the config file, or what the built-in default is. Default: config.source. */
  configSource?: string;
  /** What the `shutdown` method does once it has answered. Default: stop() (force: no grace, no flush). */
  requestStop?(opts: { force: boolean }): void;
}

export interface RunningDaemon {
  /** One "HOST:PORT" per `servers[]` entry, with the real port when the config said :0. */
  readonly addresses: string[];
  readonly stores: StoreManager;
  /** The catalog file (`<stateDir>/catalog.sqlite`); every daemon opens one. */
  readonly catalogPath: string;
  /** The open catalog (closed by stop()): store indexes, upload journal, dedup index. */
  readonly catalog: Catalog;
  /** Request counts, hits, bytes and latency of every gRPC call since start (for `ncache stats`). */
  readonly metrics: Metrics;
  /** Each named store's stats, its tree flattened root first (write-behind backlog under fast_slow). */
  stats(): Record<string, StoreStats[]>;
  /** The control socket's path, when `control` was given. */
  readonly controlSocket: string | undefined;
  /**
   * Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then closes the stores.
   * `flush: false` skips delivering owed uploads first (they stay journaled for the next start).
   */
  stop(opts?: { graceMs?: number; flush?: boolean }): Promise<void>;
}

const DEFAULT_GRACE_MS = 10_000;
/** How often request counters are added to the catalog's lifetime totals. */
const METRICS_FLUSH_MS = 60_000;

/** One listening gRPC server and the services that hold state across calls. */
interface ServerRuntime {
  readonly server: Server;
  readonly bytestream: ByteStreamServer | undefined;
  readonly health: HealthServer | undefined;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const { config } = opts;
  const startedAtMs = clock.now();

  // Before anything else, take the control socket: binding it is what makes a
  // second daemon on this state dir fail at once, before it touches the
  // catalog or the stores. Requests on it wait until the daemon is ready.
  let settleReady!: { resolve: (ctx: ControlContext) => void; reject: (err: unknown) => void };
  const ready = new Promise<ControlContext>((resolve, reject) => (settleReady = { resolve, reject }));
  ready.catch(() => {}); // a failed start is reported by startDaemon's own rejection
  const controlOpts = opts.control;
  const control: ControlServer | undefined = controlOpts
    ? await startControlServer({ socketPath: controlOpts.socketPath, pidFile: controlOpts.pidFile, logger, methods: CONTROL_METHODS, context: ready })
    : undefined;
  /** Start failed: clients waiting on the socket are told, and the socket goes away. */
  const abandon = async (err: unknown): Promise<unknown> => {
    settleReady.reject(new NcacheError('UNAVAILABLE', `the daemon failed to start: ${errorMessage(err)}`));
    await control?.close();
    return err;
  };

  let catalog: Catalog;
  try {
    catalog = openCatalog(opts, logger, clock);
  } catch (err) {
    throw await abandon(err);
  }
  let stores: StoreManager;
  try {
    await loadStoreKinds(config.stores.map((s) => s.spec));
    stores = new StoreManager(config.stores, { logger, clock, catalog, env: opts.env ?? process.env });
  } catch (err) {
    catalog.close();
    throw await abandon(err);
  }
  try {
    await stores.start();
  } catch (err) {
    await stores.close().catch(() => {});
    catalog.close();
    throw await abandon(withContext('cannot start the stores', err));
  }

  const runtimes: ServerRuntime[] = [];
  const addresses: string[] = [];
  const metrics = new Metrics(clock);
  try {
    for (const [index, spec] of config.servers.entries()) {
      const runtime = buildServer(spec, index, stores, logger, metrics);
      runtimes.push(runtime);
      addresses.push(await bind(runtime.server, spec, index));
      logger.info(`server ${JSON.stringify(spec.name)} listening on ${addresses[index]}`, {
        services: Object.keys(spec.services).filter((k) => spec.services[k as keyof ServerSpec['services']] !== undefined),
      });
    }
  } catch (err) {
    // Leave nothing running: servers already listening and the stores.
    for (const r of runtimes) r.server.forceShutdown();
    await Promise.allSettled(runtimes.map((r) => r.bytestream?.close()));
    await stores.close().catch(() => {});
    catalog.close();
    throw await abandon(err);
  }

  // Lifetime totals for stats survive restarts: flushed to the catalog every minute and at stop.
  metrics.persistTo(catalog.counters);
  const flushMetrics = () => {
    try {
      metrics.flush();
    } catch (err) {
      logger.warn(`could not save request counters to the catalog: ${errorMessage(err)}`);
    }
  };
  const metricsTimer = setInterval(flushMetrics, METRICS_FLUSH_MS);
  metricsTimer.unref();

  let stopping: Promise<void> | undefined;
  const running: RunningDaemon = {
    addresses,
    stores,
    catalogPath: catalog.path,
    get controlSocket() {
      return control?.socketPath;
    },
    catalog,
    metrics,
    stats() {
      const out: Record<string, StoreStats[]> = {};
      for (const name of stores.names()) {
        out[name] = [...walkStores(stores.get(name))].flatMap((s) => s.stats?.() ?? []);
      }
      return out;
    },
    stop(stopOpts = {}) {
      // The control socket goes first: admin methods must not run against closing stores.
      stopping ??= (async () => {
        await control?.close();
        if (stopOpts.flush === false) skipUploadFlush(stores);
        await stopAll(runtimes, stores, stopOpts.graceMs ?? DEFAULT_GRACE_MS, logger);
      })().finally(() => {
        if (controlOpts?.pidFile !== undefined) removePidFile(controlOpts.pidFile, process.pid);
        clearInterval(metricsTimer);
        flushMetrics();
        catalog.close();
      });
      return stopping;
    },
  };

  if (controlOpts) {
    // Before the first answer: whoever sees the daemon ready also finds its pid file.
    if (controlOpts.pidFile !== undefined) {
      writePidFile(controlOpts.pidFile, {
        pid: process.pid,
        socketPath: controlOpts.socketPath,
        startedAt: new Date(startedAtMs).toISOString(),
        addresses: addresses.map((a) => `grpc://${a}`),
      });
    }
    settleReady.resolve({
      config,
      configSource: controlOpts.configSource ?? config.source,
      stores,
      catalog,
      addresses,
      startedAtMs,
      pid: process.pid,
      version: ncacheVersion(),
      clock,
      logger,
      stateDir: stateDirFor(opts),
      socketPath: controlOpts.socketPath,
      metrics,
      requestStop(stop) {
        // After the reply is on its way: stop() closes the control socket.
        setImmediate(() => {
          if (controlOpts.requestStop) return controlOpts.requestStop(stop);
          void running.stop(stop.force ? { graceMs: 0, flush: false } : {});
        });
      },
    });
    logger.info(`control socket ready on ${controlOpts.socketPath}`);
  }
  return running;
}

/** `ncache stop --force`: owed uploads stay in the journal instead of being delivered first. */
function skipUploadFlush(stores: StoreManager): void {
  for (const name of stores.names()) {
    for (const store of walkStores(stores.get(name))) {
      store.skipFlushOnClose?.();
    }
  }
}

/**
 * Every daemon opens its catalog: filesystem stores keep their index there (so
 * a restart does not rescan their directories), fast_slow its upload journal
 * and slow-tier presence, dedup its blob index.
 */
function openCatalog(opts: DaemonOptions, logger: Logger, clock: Clock): Catalog {
  const stateDir = stateDirFor(opts);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  return Catalog.open(join(stateDir, 'catalog.sqlite'), { logger, clock });
}

function stateDirFor(opts: DaemonOptions): string {
  const env = opts.env ?? process.env;
  const envDir = env.NCACHE_STATE_DIR;
  // Else the cache dir the config's ${NCACHE_CACHE_DIR} means, so state sits beside the fast tier.
  return opts.stateDir ?? (envDir !== undefined && envDir !== '' ? envDir : configEnv(env).NCACHE_CACHE_DIR!);
}

async function stopAll(runtimes: ServerRuntime[], stores: StoreManager, graceMs: number, logger: Logger): Promise<void> {
  // Health watchers would otherwise hold a graceful shutdown open.
  for (const r of runtimes) r.health?.shutdown();
  await Promise.all(runtimes.map((r) => shutdownServer(r.server, graceMs, logger)));
  // Uploads nobody resumed are aborted, so nothing partial is committed.
  await Promise.allSettled(runtimes.map((r) => r.bytestream?.close()));
  await stores.close();
}

/** tryShutdown (in-flight calls finish), then forceShutdown after `graceMs`. */
function shutdownServer(server: Server, graceMs: number, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      logger.warn(`calls still running after ${graceMs} ms; cancelling them`);
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * HTTP/2 flow control: with Node's default 64 KiB windows a client can only
 * have 64 KiB of an upload in flight per round trip, which caps ByteStream
 * well below disk speed. grpc-js has no server option for this, so we set
 * the initial stream window in the options it passes to http2.createServer
 * and widen each connection's window as sessions arrive. Both are plain
 * HTTP/2 settings; if grpc-js internals change, this quietly does nothing.
 */
function widenFlowControl(server: Server): void {
  const internals = server as unknown as {
    commonServerOptions?: http2.ServerOptions;
    http2Servers?: Map<http2.Http2Server, unknown>;
  };
  if (internals.commonServerOptions) {
    internals.commonServerOptions.settings = {
      ...internals.commonServerOptions.settings,
      initialWindowSize: HTTP2_STREAM_WINDOW_BYTES,
    };
  }
  const bindAsync = server.bindAsync.bind(server);
  server.bindAsync = (port, creds, callback) =>
    bindAsync(port, creds, (err, boundPort) => {
      for (const h2 of internals.http2Servers?.keys() ?? []) {
        if ((h2 as { ncacheWindow?: boolean }).ncacheWindow) continue;
        (h2 as { ncacheWindow?: boolean }).ncacheWindow = true;
        h2.on('session', (session: http2.ServerHttp2Session) => {
          try {
            session.setLocalWindowSize(HTTP2_CONNECTION_WINDOW_BYTES);
          } catch {
            // an old Node without setLocalWindowSize: keep the default window
          }
        });
      }
      callback(err, boundPort);
    });
}

function bind(server: Server, spec: ServerSpec, index: number): Promise<string> {
  const address = spec.listener.http.socket_address;
  const where = `servers[${index}]${spec.name !== String(index) ? ` (${JSON.stringify(spec.name)})` : ''}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
      if (err) {
        const inUse = /EADDRINUSE|address already in use/i.test(err.message);
        reject(
          new NcacheError(
            'UNAVAILABLE',
            `${where}.listener.http.socket_address: cannot listen on ${address}: ` +
              (inUse ? 'the address is already in use (is another ncache or server running on that port?)' : err.message),
          ),
        );
        return;
      }
      const host = address.slice(0, address.lastIndexOf(':'));
      resolve(`${host}:${port}`);
    });
  });
}

function buildServer(spec: ServerSpec, index: number, stores: StoreManager, logger: Logger, metrics: Metrics): ServerRuntime {
  const bindings = serverBindings(spec, index);
  // One wrapper per store, however many services and instances of this server use it.
  const wrapped = new Map<string, StoreDriver>();
  const storeFor = (binding: ServiceBinding): StoreDriver => {
    let store = wrapped.get(binding.store);
    if (store === undefined) {
      try {
        // Keys a request uses are pinned while it runs, so gc leaves them alone.
        store = new PinningStore(stores.get(binding.store), pinsFor(stores));
      } catch (err) {
        throw withContext(binding.path, err);
      }
      wrapped.set(binding.store, store);
    }
    return store;
  };
  const byInstance = <B extends ServiceBinding, T>(list: readonly B[], value: (binding: B) => T): Map<string, T> =>
    new Map(list.map((b) => [b.instance, value(b)]));
  const server = new Server({
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  });
  widenFlowControl(server);
  // Every service is counted in `metrics` (requests, hits, bytes, latency) without knowing it.
  const add = <T>(def: ServiceDefinition<T>, impl: T) => {
    const counted = instrumentService(def as unknown as ServiceDefinition, impl as unknown as UntypedServiceImplementation, metrics);
    server.addService(counted.definition, counted.implementation);
  };
  const served: string[] = [];
  const s = spec.services;
  const cas = bindingsOf(bindings, 'cas');
  const bytestreamCas = bindingsOf(bindings, 'bytestream');

  // Instance -> CAS store, from the ByteStream map and the cas entries (a cas entry wins), for inlining and capabilities.
  const casByInstance = byInstance([...bytestreamCas, ...cas], storeFor);

  if (cas.length > 0) {
    add(serviceDefinition('cas'), new CasServer({ stores: new InstanceMap('CAS', byInstance(cas, storeFor)), logger }).handlers());
    served.push(SERVICE_NAMES.cas);
  }

  const acByInstance = byInstance(
    bindingsOf(bindings, 'ac'),
    (b): AcInstance => ({ store: storeFor(b), readOnly: b.readOnly, cas: casByInstance.get(b.instance) }),
  );
  if (acByInstance.size > 0) {
    add(serviceDefinition('ac'), new AcServer({ instances: new InstanceMap('action cache', acByInstance), logger }).handlers());
    served.push(SERVICE_NAMES.ac);
  }

  let bytestream: ByteStreamServer | undefined;
  if (s.bytestream) {
    bytestream = new ByteStreamServer({
      stores: new InstanceMap('ByteStream', byInstance(bytestreamCas, storeFor)),
      logger,
      readChunkBytes: s.bytestream.max_bytes_per_stream,
      resumeTimeoutSeconds: s.bytestream.persist_stream_on_disconnect_timeout,
    });
    add(bytestream.definition(), bytestream.handlers());
    served.push(SERVICE_NAMES.bytestream);
  }

  const executionInstances = new Set(bindingsOf(bindings, 'execution').map((b) => b.instance));
  if (executionInstances.size > 0) {
    const map = new Map([...executionInstances].map((name) => [name, true as const]));
    add(serviceDefinition('execution'), new ExecutionServer(new InstanceMap('execution', map), logger).handlers());
    served.push(SERVICE_NAMES.execution);
  }

  if (s.capabilities && s.capabilities.length > 0) {
    const map = new Map<string, InstanceCapabilities>();
    for (const e of s.capabilities) {
      const name = e.instance_name;
      const ac = acByInstance.get(name);
      map.set(name, {
        cache: casByInstance.has(name) || ac !== undefined,
        updateEnabled: ac !== undefined && !ac.readOnly,
        // Only an instance with an execution service advertises execution.
        execution: executionInstances.has(name),
      });
    }
    add(serviceDefinition('capabilities'), new CapabilitiesServer(new InstanceMap('capabilities', map), logger).handlers());
    served.push(SERVICE_NAMES.capabilities);
  }

  let health: HealthServer | undefined;
  if (s.health) {
    health = new HealthServer(served, logger);
    add(serviceDefinition('health'), health.handlers());
  }

  return { server, bytestream, health };
}

