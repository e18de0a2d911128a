// The daemon's remote-execution parts: one scheduler per `schedulers[]` entry
// (a wrapping kind built around the one nested in its config), and each
// `workers[].local` built in process and registered with the scheduler its
// worker_api_endpoint names (src/config/worker-endpoints.ts), which passes it
// down to its innermost `simple`.
// Why in process rather than over the worker API: docs/architecture.md,
// "Execution service".
import { schedulerKinds } from '../config/scheduler-tree.js';
import { workerApiTarget, workerRefusal } from '../config/worker-endpoints.js';
import type { LocalWorkerSpec, NcacheConfig, SchedulerSpec } from '../config/types.js';
import { CacheLookupScheduler } from '../scheduler/cache-lookup-scheduler.js';
import type { JobRequest } from '../scheduler/job.js';
import { PropertyModifierScheduler } from '../scheduler/property-modifier-scheduler.js';
import { SimpleScheduler } from '../scheduler/simple-scheduler.js';
import type { StoreDriver } from '../stores/store.js';
import { cachedSuccessIn } from './cached-result.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { Clock } from '../util/clock.js';
import type { StoreManager } from '../stores/factory.js';
import { PinningStore } from '../maintenance/pinning-store.js';
import type { PinRegistry } from '../maintenance/pins.js';
import { NcacheError, errorMessage, withContext } from '../util/errors.js';
import { LocalWorker } from '../worker/local-worker.js';
import type { Logger } from '../util/logger.js';
import { type ExecuteCounters, newExecuteCounters } from './execution-counters.js';

export interface ExecutionRuntime {
  /** By config name. */
  readonly schedulers: ReadonlyMap<string, Scheduler>;
  /** What the Execution services of every listener decided (cache hits, ...). */
  readonly counters: ExecuteCounters;
  /** Fails every operation with UNAVAILABLE, kills running actions and removes their directories. */
  close(): Promise<void>;
}

type UpstreamSchedulerModule = typeof import('./upstream-scheduler.js');

export interface ExecutionDeps {
  readonly stores: StoreManager;
  /** The daemon's pins: what a worker reads, writes or adopts is pinned against gc while it does. */
  readonly pins: PinRegistry;
  readonly logger: Logger;
  readonly clock: Clock;
}

/**
 * Builds the schedulers, then the workers (registered as they are built).
 * On a throw, what was built is closed; the caller registers close() only
 * once this returns.
 */
export async function startExecution(config: NcacheConfig, deps: ExecutionDeps): Promise<ExecutionRuntime> {
  const schedulers = new Map<string, Scheduler>();
  const close = async () => {
    const results = await Promise.allSettled([...schedulers.values()].map((s) => s.close()));
    for (const r of results) if (r.status === 'rejected') deps.logger.warn(`closing a scheduler: ${errorMessage(r.reason)}`);
  };
  try {
    // The grpc kind's code, and @grpc/grpc-js under it, only for a config that forwards actions upstream.
    const upstream = config.schedulers.some(({ spec }) => schedulerKinds(spec).includes('grpc'))
      ? await import('./upstream-scheduler.js')
      : undefined;
    config.schedulers.forEach(({ name, spec }, i) => {
      // Built one at a time into the map, so a throw closes those built before it.
      schedulers.set(name, buildScheduler(name, spec, `schedulers[${i}]`, deps, upstream));
    });
    config.workers.forEach((spec, i) => addLocalWorker(config, spec, i, schedulers, deps));
  } catch (err) {
    await close();
    throw err;
  }
  return { schedulers, counters: newExecuteCounters(), close };
}

/** One scheduler and, inside out, the ones nested in its config. */
function buildScheduler(name: string, spec: SchedulerSpec, path: string, deps: ExecutionDeps, upstream: UpstreamSchedulerModule | undefined): Scheduler {
  const { logger, clock } = deps;
  const at = `${path}.${spec.kind}`;
  switch (spec.kind) {
    case 'simple':
      return new SimpleScheduler({ name, spec, logger, clock });
    case 'grpc':
      if (upstream === undefined) throw new NcacheError('INTERNAL', `${at}: the grpc scheduler's code was not loaded`);
      return upstream.upstreamScheduler(name, spec.connection, at, deps);
    case 'property_modifier':
      return new PropertyModifierScheduler(name, spec.modifications, buildScheduler(name, spec.scheduler, `${at}.scheduler`, deps, upstream));
    case 'cache_lookup': {
      let store: StoreDriver;
      try {
        store = deps.stores.get(spec.ac_store);
      } catch (err) {
        throw withContext(`${at}.ac_store`, err);
      }
      const inner = buildScheduler(name, spec.scheduler, `${at}.scheduler`, deps, upstream);
      const lookup = (request: JobRequest) => cachedSuccessIn(store, request.localStores?.cas, request, logger);
      return new CacheLookupScheduler({ name, lookup, inner, logger, clock });
    }
  }
}

/** `workers[i].local`, in process, on the scheduler of the worker_api listener its endpoint names. */
function addLocalWorker(config: NcacheConfig, spec: LocalWorkerSpec, i: number, schedulers: ReadonlyMap<string, Scheduler>, deps: ExecutionDeps): void {
  const at = `workers[${i}].local`;
  // The config check (worker-endpoints.ts) already refused a config where these fail; a config built in code gets the same message.
  const target = workerApiTarget(config.servers, spec);
  if (typeof target === 'string') throw new NcacheError('INVALID_ARGUMENT', `${at}.worker_api_endpoint: ${target}`);
  const scheduler = schedulers.get(target.scheduler);
  if (scheduler === undefined) throw new NcacheError('INVALID_ARGUMENT', `servers[${target.server}].services.worker_api.scheduler: no scheduler named ${JSON.stringify(target.scheduler)}`);
  const refused = workerRefusal(config, target.scheduler);
  if (refused !== undefined) throw new NcacheError('INVALID_ARGUMENT', `${at}.worker_api_endpoint: ${refused}`);
  // Pinned like the services' stores; PinningStore forwards linkableFiles, through which the worker hardlinks inputs and adopts outputs.
  const store = (name: string, field: string) => {
    try {
      return new PinningStore(deps.stores.get(name), deps.pins);
    } catch (err) {
      throw withContext(`${at}.${field}`, err);
    }
  };
  const ac = spec.upload_action_result.ac_store;
  const worker = new LocalWorker({
    id: spec.name ?? `workers[${i}]`,
    spec,
    cas: store(spec.cas_fast_slow_store, 'cas_fast_slow_store'),
    ...(ac === undefined ? {} : { ac: store(ac, 'upload_action_result.ac_store') }),
    pins: deps.pins,
    logger: deps.logger,
    clock: deps.clock,
  });
  try {
    scheduler.addWorker(worker);
  } catch (err) {
    throw withContext(spec.name === undefined ? at : `${at}.name`, err);
  }
  deps.logger.info(`worker ${JSON.stringify(worker.id)} runs actions for scheduler ${JSON.stringify(target.scheduler)}`, {
    slots: worker.slots,
    properties: worker.properties,
    work_directory: spec.work_directory,
  });
}
