// The composition root: stores from the config, one gRPC server per
// `servers[]` entry with the services that entry lists, and an orderly stop.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../catalog/catalog.js';
import { clientUrls } from '../config/bazelrc.js';
import { type ServiceBinding, bindingsOf, serverBindings, serviceBindings, storeForInstance } from '../config/service-bindings.js';
import { serverLabel } from '../config/schema-servers.js';
import type { NcacheConfig, ServerSpec } from '../config/types.js';
import { SERVICE_NAMES, serviceDefinition } from '../proto/reapi.js';
import { PinningStore } from '../maintenance/pinning-store.js';
import { PinRegistry } from '../maintenance/pins.js';
import { StoreManager } from '../stores/factory.js';
import { loadStoreKinds } from '../stores/optional-kinds.js';
import { type StoreDriver, walkStores } from '../stores/store.js';
import type { StoreStats } from '../stores/store-stats.js';
import { type Clock, systemClock } from '../util/clock.js';
import { NcacheError, errorMessage, withContext } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { Rollback } from '../util/rollback.js';
import { ncacheVersion } from '../util/version.js';
import { AcServer, type AcInstance } from './ac-server.js';
import { type Admission, listenerDoor } from './auth/listener-auth.js';
import { ByteStreamServer } from './bytestream-server.js';
import { CapabilitiesServer, type InstanceCapabilities } from './capabilities-server.js';
import { CasServer } from './cas-server.js';
import type { ExecuteCounters } from './execution-counters.js';
import { type ExecutionInstance, ExecutionServer } from './execution-server.js';
import { type ExecutionRuntime, startExecution } from './execution-setup.js';
import { MaintenanceLock } from './control/maintenance-lock.js';
import { CONTROL_METHODS } from './control/methods.js';
import { stateDirOf } from './control/paths.js';
import { removePidFile, writePidFile } from './control/pid-file.js';
import { type ControlServer, startControlServer } from './control/server.js';
import type { ControlContext } from './control/types.js';
import { HealthServer } from './health-server.js';
import { type HttpCacheListener, startHttpCacheListener } from './http-cache/http-cache-listener.js';
import { type ServiceMethods, instrumentService } from './instrument.js';
import { InstanceMap } from './instances.js';
import { GrpcListener } from './grpc-server/listener.js';
import { GrpcRouter, registerService } from './grpc-server/router.js';
import { type FollowedTlsFiles, contextOptions, followTlsFiles } from './tls.js';
import { WRITE_READ_AHEAD_MESSAGES, listenerLimits } from './limits.js';
import { Metrics } from './metrics.js';
import type { DaemonRegistry } from './prometheus/daemon-registry.js';
import { listenWithMetrics } from './prometheus/prometheus-listener.js';
import type { SharedPort } from './prometheus/shared-port.js';

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
  /** Remote execution's schedulers by config name (empty when the config runs no actions). */
  readonly schedulers: ReadonlyMap<string, Scheduler>;
  /** What the Execution services answered without a scheduler (cache hits, missing blobs). */
  readonly executeCounters: ExecuteCounters;
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
  readonly server: GrpcListener;
  readonly bytestream: ByteStreamServer | undefined;
  readonly health: HealthServer | undefined;
  /** The watch on the listener's TLS files; undefined for plaintext (and for a shared port, which does its own TLS). */
  readonly tls: FollowedTlsFiles | undefined;
  /** Set once listening when the listener also serves Prometheus metrics: the port it shares with the gRPC listener (src/daemon/prometheus/). */
  sharedPort?: SharedPort;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const { config } = opts;
  const startedAtMs = clock.now();
  const rollback = new Rollback();
  try {
    const control = opts.control ? await openControlSocket(opts.control, logger, rollback) : undefined;
    const catalog = openCatalog(opts, logger, clock);
    rollback.add(() => catalog.close());
    const stores = await startStores(config, { logger, clock, catalog, env: opts.env ?? process.env }, rollback);
    // Per-daemon state the services and the control methods share.
    const pins = new PinRegistry();
    const maintenance = new MaintenanceLock();
    const metrics = new Metrics(clock);
    const execution = await startExecution(config, { stores, pins, logger, clock });
    rollback.add(() => execution.close());
    const { runtimes, httpCaches, addresses } = await startServers(config, { stores, pins, metrics, execution }, logger, clock, rollback);
    const parts: DaemonParts = { config, logger, clock, startedAtMs, control, catalog, stores, pins, maintenance, metrics, execution, runtimes, httpCaches, addresses };
    const running = assemble(parts, rollback);
    if (control) announce(running, parts, control, opts);
    return running;
  } catch (err) {
    await rollback.run(err);
    throw err;
  }
}

/** What the start phases built, for the running daemon to hold and stop. */
interface DaemonParts {
  readonly config: NcacheConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly startedAtMs: number;
  readonly control: PendingControl | undefined;
  readonly catalog: Catalog;
  readonly stores: StoreManager;
  /** Keys in-flight requests use (the services' stores pin them, gc reads them). */
  readonly pins: PinRegistry;
  /** One gc or verify at a time. */
  readonly maintenance: MaintenanceLock;
  readonly metrics: Metrics;
  readonly execution: ExecutionRuntime;
  readonly runtimes: ServerRuntime[];
  /** The listeners speaking Bazel's HTTP cache protocol (listener.http_cache). */
  readonly httpCaches: HttpCacheListener[];
  readonly addresses: string[];
}

/** The control socket, listening, with requests waiting for the daemon to be ready. */
interface PendingControl {
  readonly server: ControlServer;
  readonly options: ControlOptions;
  ready(ctx: ControlContext): void;
}

/**
 * Phase 1, before anything else: take the control socket. Binding it is what
 * makes a second daemon on this state dir fail at once, before it touches the
 * catalog or the stores. Requests on it wait until `ready`.
 */
async function openControlSocket(options: ControlOptions, logger: Logger, rollback: Rollback): Promise<PendingControl> {
  let settle!: { resolve: (ctx: ControlContext) => void; reject: (err: unknown) => void };
  const context = new Promise<ControlContext>((resolve, reject) => (settle = { resolve, reject }));
  context.catch(() => {}); // a failed start is reported by startDaemon's own rejection
  const server = await startControlServer({ socketPath: options.socketPath, pidFile: options.pidFile, logger, methods: CONTROL_METHODS, context });
  // Start failed: clients waiting on the socket are told, and the socket goes away.
  rollback.add(async (err) => {
    settle.reject(new NcacheError('UNAVAILABLE', `the daemon failed to start: ${errorMessage(err)}`));
    await server.close();
  });
  return { server, options, ready: settle.resolve };
}

/** Phase 3: build the store tree (heavy kinds imported first) and start it. */
async function startStores(config: NcacheConfig, deps: ConstructorParameters<typeof StoreManager>[1], rollback: Rollback): Promise<StoreManager> {
  await loadStoreKinds(config.stores.map((s) => s.spec));
  const stores = new StoreManager(config.stores, deps);
  rollback.add(() => stores.close());
  try {
    await stores.start();
  } catch (err) {
    throw withContext('cannot start the stores', err);
  }
  return stores;
}

/** What every listener's services share. */
interface SharedState {
  readonly stores: StoreManager;
  readonly pins: PinRegistry;
  readonly metrics: Metrics;
  readonly execution: ExecutionRuntime;
}

/** Phase 4: one listening server per `servers[]` entry: gRPC, or Bazel's HTTP cache protocol for listener.http_cache. */
async function startServers(
  config: NcacheConfig,
  shared: SharedState,
  logger: Logger,
  clock: Clock,
  rollback: Rollback,
): Promise<{ runtimes: ServerRuntime[]; httpCaches: HttpCacheListener[]; addresses: string[] }> {
  const runtimes: ServerRuntime[] = [];
  const httpCaches: HttpCacheListener[] = [];
  const addresses: string[] = [];
  // Leave none running, including those that were listening before one failed.
  rollback.add(async () => {
    for (const r of runtimes) {
      r.server.forceShutdown();
      r.tls?.close();
    }
    await Promise.allSettled([...runtimes.map((r) => r.bytestream?.close()), ...runtimes.map((r) => r.sharedPort?.stop(0)), ...httpCaches.map((h) => h.stop(0))]);
  });
  let registry: DaemonRegistry | undefined;
  for (const [index, spec] of config.servers.entries()) {
    if (spec.listener.protocol === 'http_cache') {
      const listener = await startHttpCacheListener(spec, index, { storeFor: pinnedStores(shared.stores, shared.pins), metrics: shared.metrics, logger, clock });
      httpCaches.push(listener);
      addresses.push(listener.address);
      logger.info(`server ${JSON.stringify(spec.name)} serving Bazel's HTTP cache protocol on ${listener.address}`);
      continue;
    }
    // A listener with `auth` checks every call before any service sees it (src/daemon/auth/).
    const door = listenerDoor(spec, index, { clock, logger, boundAddress: () => addresses[index] });
    const runtime = buildServer(config, index, shared, logger, door);
    runtimes.push(runtime);
    const prometheus = spec.services.experimental_prometheus;
    let address: string;
    if (prometheus === undefined) address = await bind(runtime.server, spec, index);
    else {
      // One registry for the daemon, however many listeners serve it. Loaded
      // here, not at the top: prom-client and the OpenTelemetry API it pulls in
      // cost a daemon that serves no metrics idle RSS for nothing.
      registry ??= (await import('./prometheus/daemon-registry.js')).createDaemonRegistry({ config, metrics: shared.metrics, stores: shared.stores, schedulers: shared.execution.schedulers, executeCounters: shared.execution.counters });
      runtime.sharedPort = await listenWithMetrics(runtime.server, spec, index, prometheus.path, { registry, logger, clock });
      address = runtime.sharedPort.address;
      logger.info(`server ${JSON.stringify(spec.name)} serving Prometheus metrics at http${spec.listener.http.tls ? 's' : ''}://${address}${prometheus.path}`);
    }
    addresses.push(address);
    logger.info(`server ${JSON.stringify(spec.name)} listening on ${address}`, {
      services: Object.keys(spec.services).filter((k) => spec.services[k as keyof ServerSpec['services']] !== undefined),
    });
  }
  return { runtimes, httpCaches, addresses };
}

/** The running daemon over its parts: lifetime counters saved every minute, and an orderly stop. */
function assemble(parts: DaemonParts, rollback: Rollback): RunningDaemon {
  const { catalog, stores, metrics, execution, runtimes, httpCaches, logger, control } = parts;
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
  rollback.add(() => clearInterval(metricsTimer));

  let stopping: Promise<void> | undefined;
  return {
    addresses: parts.addresses,
    stores,
    catalogPath: catalog.path,
    controlSocket: control?.server.socketPath,
    catalog,
    metrics,
    schedulers: execution.schedulers,
    executeCounters: execution.counters,
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
        await control?.server.close();
        if (stopOpts.flush === false) skipUploadFlush(stores);
        await stopAll(runtimes, httpCaches, execution, stores, stopOpts.graceMs ?? DEFAULT_GRACE_MS, logger);
      })().finally(() => {
        if (control?.options.pidFile !== undefined) removePidFile(control.options.pidFile, process.pid);
        clearInterval(metricsTimer);
        flushMetrics();
        catalog.close();
      });
      return stopping;
    },
  };
}

/** Last phase: the pid file, then the control context, so requests waiting on the socket get their answers. */
function announce(running: RunningDaemon, parts: DaemonParts, control: PendingControl, opts: DaemonOptions): void {
  const { options } = control;
  // Before the first answer: whoever sees the daemon ready also finds its pid file.
  if (options.pidFile !== undefined) {
    writePidFile(options.pidFile, {
      pid: process.pid,
      socketPath: options.socketPath,
      startedAt: new Date(parts.startedAtMs).toISOString(),
      addresses: clientUrls(parts.config, parts.addresses),
    });
  }
  control.ready({
    config: parts.config,
    configSource: options.configSource ?? parts.config.source,
    stores: parts.stores,
    catalog: parts.catalog,
    addresses: parts.addresses,
    startedAtMs: parts.startedAtMs,
    pid: process.pid,
    version: ncacheVersion(),
    clock: parts.clock,
    logger: parts.logger,
    stateDir: stateDirFor(opts),
    socketPath: options.socketPath,
    metrics: parts.metrics,
    pins: parts.pins,
    maintenance: parts.maintenance,
    schedulers: parts.execution.schedulers,
    executeCacheHits: () => parts.execution.counters.cacheHits,
    requestStop(stop) {
      // After the reply is on its way: stop() closes the control socket.
      setImmediate(() => {
        if (options.requestStop) return options.requestStop(stop);
        void running.stop(stop.force ? { graceMs: 0, flush: false } : {});
      });
    },
  });
  parts.logger.info(`control socket ready on ${options.socketPath}`);
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

/** Phase 2's directory: DaemonOptions.stateDir, else the rule every command uses (control/paths.ts). */
function stateDirFor(opts: DaemonOptions): string {
  return opts.stateDir ?? stateDirOf(opts.env ?? process.env);
}

async function stopAll(
  runtimes: ServerRuntime[],
  httpCaches: HttpCacheListener[],
  execution: ExecutionRuntime,
  stores: StoreManager,
  graceMs: number,
  logger: Logger,
): Promise<void> {
  // Health watchers would otherwise hold a graceful shutdown open.
  for (const r of runtimes) {
    r.health?.shutdown();
    r.tls?.close();
  }
  // No new calls from here on; running actions are killed (their clients get
  // UNAVAILABLE, which Bazel retries), so Execute streams end instead of
  // holding the shutdown open for the whole grace period.
  const serversDown = Promise.all([
    ...runtimes.map((r) => shutdownServer(r.server, graceMs, logger)),
    ...runtimes.map((r) => r.sharedPort?.stop(graceMs)),
    ...httpCaches.map((h) => h.stop(graceMs)),
  ]);
  await execution.close();
  await serversDown;
  // Uploads nobody resumed are aborted, so nothing partial is committed.
  await Promise.allSettled(runtimes.map((r) => r.bytestream?.close()));
  await stores.close();
}

/** tryShutdown (in-flight calls finish), then forceShutdown after `graceMs`. */
function shutdownServer(server: GrpcListener, graceMs: number, logger: Logger): Promise<void> {
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

async function bind(server: GrpcListener, spec: ServerSpec, index: number): Promise<string> {
  const address = spec.listener.http.socket_address;
  const where = serverLabel(spec, index);
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  try {
    const port = await server.listen(host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, Number(address.slice(colon + 1)));
    return `${host}:${port}`;
  } catch (err) {
    const message = errorMessage(err);
    const inUse = /EADDRINUSE|address already in use/i.test(message);
    throw new NcacheError(
      'UNAVAILABLE',
      `${where}.listener.http.socket_address: cannot listen on ${address}: ` +
        (inUse ? 'the address is already in use (is another ncache or server running on that port?)' : message),
    );
  }
}

/**
 * The store of a binding as a server's services use it: keys a request uses
 * are pinned while it runs, so gc leaves them alone. One wrapper per store,
 * however many services and instances of the server use it.
 */
function pinnedStores(stores: StoreManager, pins: PinRegistry): (binding: Pick<ServiceBinding, 'store' | 'path'>) => StoreDriver {
  const wrapped = new Map<string, StoreDriver>();
  return (binding) => {
    let store = wrapped.get(binding.store);
    if (store === undefined) {
      try {
        store = new PinningStore(stores.get(binding.store), pins);
      } catch (err) {
        throw withContext(binding.path, err);
      }
      wrapped.set(binding.store, store);
    }
    return store;
  };
}

function buildServer(config: NcacheConfig, index: number, shared: SharedState, logger: Logger, door: Admission | undefined): ServerRuntime {
  const { stores, pins, metrics } = shared;
  const spec = config.servers[index]!;
  const bindings = serverBindings(spec, index);
  const storeFor = pinnedStores(stores, pins);
  const byInstance = <B extends { instance: string }, T>(list: readonly B[], value: (binding: B) => T): Map<string, T> =>
    new Map(list.map((b) => [b.instance, value(b)]));
  const limits = listenerLimits(spec.listener.http);
  const router = new GrpcRouter({
    maxReceiveMessageBytes: limits.maxReceiveMessageBytes,
    maxSendMessageBytes: limits.maxSendMessageBytes,
    readAheadMessages: WRITE_READ_AHEAD_MESSAGES,
    ...(door === undefined ? {} : { admit: door }),
  });
  // Every service is counted in `metrics` (requests, hits, bytes, latency) without knowing it.
  const add = <T>(def: ServiceDefinition<T> | ServiceMethods, impl: T) => {
    const counted = instrumentService(def as unknown as ServiceMethods, impl as unknown as Record<string, unknown>, metrics);
    registerService(router, counted.definition, counted.implementation);
  };
  const served: string[] = [];
  const s = spec.services;
  const cas = bindingsOf(bindings, 'cas');
  const bytestreamCas = bindingsOf(bindings, 'bytestream');

  // Instance -> CAS store, from the ByteStream map and the cas entries (a cas entry wins), for inlining and capabilities.
  const casByInstance = byInstance([...bytestreamCas, ...cas], storeFor);

  if (cas.length > 0) {
    const casServer = new CasServer({
      stores: new InstanceMap('CAS', byInstance(cas, storeFor)),
      logger,
      maxBatchTotalSizeBytes: limits.maxBatchTotalBytes,
      maxUploadBytes: limits.maxUploadBytes,
    });
    add(serviceDefinition('cas'), casServer.handlers());
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
  const execution = executionInstances(config, bindingsOf(bindings, 'execution'), shared.execution, acByInstance, storeFor, logger);

  let bytestream: ByteStreamServer | undefined;
  if (s.bytestream) {
    bytestream = new ByteStreamServer({
      stores: new InstanceMap('ByteStream', byInstance(bytestreamCas, storeFor)),
      logger,
      // Half the send limit leaves room for the envelope of each Read response.
      readChunkBytes: Math.min(s.bytestream.max_bytes_per_stream, Math.floor(limits.maxSendMessageBytes / 2)),
      resumeTimeoutSeconds: s.bytestream.persist_stream_on_disconnect_timeout,
      maxUploadBytes: limits.maxUploadBytes,
      uploadStallMs: limits.uploadStallMs,
    });
    add(bytestream.definition(), bytestream.handlers());
    served.push(SERVICE_NAMES.bytestream);
  }

  if (execution.size > 0) {
    const server = new ExecutionServer({ instances: new InstanceMap('execution', execution), counters: shared.execution.counters, logger });
    add(serviceDefinition('execution'), server.handlers());
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
        execution: execution.has(name),
      });
    }
    add(serviceDefinition('capabilities'), new CapabilitiesServer(new InstanceMap('capabilities', map), logger, limits.maxBatchTotalBytes).handlers());
    served.push(SERVICE_NAMES.capabilities);
  }

  let health: HealthServer | undefined;
  if (s.health) {
    health = new HealthServer(served, logger);
    add(serviceDefinition('health'), health.handlers());
  }

  const tlsSpec = spec.listener.http.tls;
  let server: GrpcListener | undefined;
  const where = `servers[${index}]`;
  // A listener serving Prometheus metrics ends TLS itself (prometheus/shared-port.ts) and hands the listener plain connections.
  const followsTls = tlsSpec !== undefined && spec.services.experimental_prometheus === undefined;
  const tls = followsTls ? followTlsFiles(tlsSpec, where, `${where}.listener.http.tls`, logger, (next) => server?.setSecureContext(contextOptions(next))) : undefined;
  server = new GrpcListener({
    router,
    maxConcurrentStreams: limits.maxConcurrentStreams,
    idleTimeoutMs: limits.idleTimeoutMs,
    ...(tls === undefined || tlsSpec === undefined
      ? {}
      : { tls: { context: contextOptions(tls.material), requireClientCertificate: tlsSpec.client_ca_file !== undefined } }),
  });
  return { server, bytestream, health, tls };
}


/**
 * Each execution instance of one server: its cas_store, its scheduler, and
 * the action cache Execute looks results up in: the instance's `ac` service
 * on this server (the same AcServer code, so the same completeness rule),
 * else the instance's first `ac` binding anywhere in the config.
 */
function executionInstances(
  config: NcacheConfig,
  list: readonly { instance: string; store: string; scheduler: string; path: string }[],
  runtime: ExecutionRuntime,
  acHere: ReadonlyMap<string, AcInstance>,
  storeFor: (binding: { store: string; path: string }) => StoreDriver,
  logger: Logger,
): Map<string, ExecutionInstance> {
  const everywhere = serviceBindings(config);
  const lookups = new Map<string, AcInstance>();
  for (const b of list) {
    const here = acHere.get(b.instance);
    const elsewhere = storeForInstance(everywhere, 'ac', b.instance);
    if (here !== undefined) lookups.set(b.instance, here);
    else if (elsewhere !== undefined) lookups.set(b.instance, { store: storeFor({ store: elsewhere, path: b.path }), readOnly: true, cas: storeFor(b) });
  }
  const actionCache = new AcServer({ instances: new InstanceMap('action cache', lookups), logger });
  return new Map(
    list.map((b): [string, ExecutionInstance] => {
      const scheduler = runtime.schedulers.get(b.scheduler);
      // The config check makes this impossible; say which field if it ever is not.
      if (scheduler === undefined) throw new NcacheError('INVALID_ARGUMENT', `${b.path}: scheduler ${JSON.stringify(b.scheduler)} was not built`);
      // Where a forwarding scheduler records results: the instance's first writable `ac` service's store.
      const writable = bindingsOf(everywhere, 'ac').find((a) => a.instance === b.instance && !a.readOnly);
      const cas = storeFor(b);
      const localStores = { cas, ...(writable === undefined ? {} : { actionCache: storeFor({ store: writable.store, path: b.path }) }) };
      return [b.instance, { cas, scheduler, actionCache: lookups.has(b.instance) ? actionCache : undefined, localStores }];
    }),
  );
}
