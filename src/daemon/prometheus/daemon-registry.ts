// The daemon's one Prometheus registry (not prom-client's global one, so two
// daemons in one process, as in tests, never mix their numbers), shared by
// every listener that lists experimental_prometheus: NativeLink gathers its
// metrics once and may serve them on several endpoints too. Nothing here runs
// per request: every metric is read from the daemon's own counters when a
// scrape asks.
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { NcacheConfig } from '../../config/types.js';
import type { Scheduler, SchedulerSnapshot } from '../../scheduler/scheduler.js';
import type { StoreManager } from '../../stores/factory.js';
import type { ExecuteCounters } from '../execution-counters.js';
import type { Metrics } from '../metrics.js';
import { registerExecutionMetrics } from './execution-metrics.js';
import { registerRequestMetrics } from './request-metrics.js';
import { type ScrapedStore, registerStoreMetrics, scrapeStores } from './store-metrics.js';

const EVENT_LOOP_SAMPLE_MS = 100;

export interface DaemonRegistrySources {
  readonly config: Pick<NcacheConfig, 'stores'>;
  readonly metrics: Metrics;
  readonly stores: StoreManager;
  readonly schedulers: ReadonlyMap<string, Scheduler>;
  readonly executeCounters: ExecuteCounters;
}

export interface DaemonRegistry {
  /** `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** The exposition text of every metric, as of now. */
  render(): Promise<string>;
}

export function createDaemonRegistry(sources: DaemonRegistrySources): DaemonRegistry {
  const registry = new Registry();
  // Stores' stats and schedulers' snapshots are taken once per scrape, so the numbers of one scrape agree with each other.
  let stores: readonly ScrapedStore[] = [];
  let schedulers: readonly SchedulerSnapshot[] = [];
  registerRequestMetrics(registry, sources.metrics);
  registerStoreMetrics(registry, () => stores);
  registerExecutionMetrics(registry, { schedulers: () => schedulers, execute: sources.executeCounters });
  // process_* and nodejs_* under their standard names, so stock dashboards work. The event-loop
  // delay monitor samples every 100 ms, not prom-client's 10: an idle daemon then wakes 10 times a
  // second for it instead of 100 (docs/benchmarks.md, "Prometheus").
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return {
    contentType: registry.contentType,
    async render() {
      stores = scrapeStores(sources.config, sources.stores);
      schedulers = [...sources.schedulers.values()].map((s) => s.snapshot());
      return registry.metrics();
    },
  };
}
