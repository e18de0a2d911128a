// Remote execution: each scheduler's queue, workers and counters (one
// snapshot per scheduler per scrape, as `ncache stats` reads them), the
// cumulative queue-wait and run-time histograms schedulers keep, and what the
// Execution service answered without a scheduler.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SchedulerSnapshot } from '../../scheduler/scheduler.js';
import type { ExecuteCounters } from '../execution-counters.js';
import type { LatencyHistogram } from '../metrics.js';
import { type HistogramSeries, ScrapedHistogram } from './scraped-histogram.js';

const SCHEDULER_LABELS = ['scheduler'] as const;

export interface ExecutionSources {
  /** One snapshot per scheduler, taken for this scrape. */
  readonly schedulers: () => readonly SchedulerSnapshot[];
  readonly execute: ExecuteCounters;
}

interface SchedulerMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  read(snap: SchedulerSnapshot): number;
}

const SCHEDULER_METRICS: readonly SchedulerMetric[] = [
  { name: 'ncache_execution_queued', type: 'gauge', help: 'Actions waiting for a worker.', read: (s) => s.queued.length },
  { name: 'ncache_execution_running', type: 'gauge', help: 'Actions running on a worker.', read: (s) => s.executing.length },
  { name: 'ncache_execution_workers', type: 'gauge', help: 'Workers registered with the scheduler.', read: (s) => s.workers.length },
  { name: 'ncache_execution_slots', type: 'gauge', help: 'Actions the workers can run at once, summed.', read: (s) => s.workers.reduce((n, w) => n + w.slots, 0) },
  { name: 'ncache_execution_submitted_total', type: 'counter', help: 'Actions submitted to the scheduler (merged ones included).', read: (s) => s.counters.submitted },
  { name: 'ncache_execution_merged_total', type: 'counter', help: 'Submissions joined to an identical action already in flight.', read: (s) => s.counters.merged },
  { name: 'ncache_execution_completed_total', type: 'counter', help: 'Actions completed (failed ones included).', read: (s) => s.counters.completed },
  { name: 'ncache_execution_failed_total', type: 'counter', help: 'Actions completed with a non-OK status or a non-zero exit code.', read: (s) => s.counters.failed },
  { name: 'ncache_execution_retried_total', type: 'counter', help: 'Actions re-queued after their worker went away.', read: (s) => s.counters.retried },
];

export function registerExecutionMetrics(registry: Registry, sources: ExecutionSources): void {
  for (const def of SCHEDULER_METRICS) {
    const each = (put: (labels: { scheduler: string }, value: number) => void) => {
      for (const snap of sources.schedulers()) put({ scheduler: snap.name }, def.read(snap));
    };
    if (def.type === 'counter') {
      new Counter({ name: def.name, help: def.help, labelNames: SCHEDULER_LABELS, registers: [registry], collect() { this.reset(); each((l, v) => this.inc(l, v)); } });
    } else {
      new Gauge({ name: def.name, help: def.help, labelNames: SCHEDULER_LABELS, registers: [registry], collect() { this.reset(); each((l, v) => this.set(l, v)); } });
    }
  }
  const histogram = (name: string, help: string, pick: (snap: SchedulerSnapshot) => LatencyHistogram | undefined) =>
    new ScrapedHistogram({
      name,
      help,
      labelNames: SCHEDULER_LABELS,
      registry,
      read: () =>
        sources.schedulers().flatMap((snap): HistogramSeries<'scheduler'>[] => {
          const h = pick(snap);
          return h === undefined ? [] : [{ labels: { scheduler: snap.name }, histogram: h }];
        }),
    });
  histogram('ncache_execution_queue_wait_seconds', 'Time from queued to started on a worker, per start (a retried action counts again).', (s) => s.counters.queueWaitTotals);
  histogram('ncache_execution_run_seconds', 'Time from started on a worker to its outcome.', (s) => s.counters.executionTotals);

  const execute = (name: string, help: string, field: keyof ExecuteCounters) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(sources.execute[field]); } });
  execute('ncache_execute_requests_total', 'Execute calls for a configured instance.', 'requests');
  execute('ncache_execute_cache_hits_total', 'Execute calls answered from the action cache, nothing run.', 'cacheHits');
  execute('ncache_execute_queued_total', 'Execute calls handed to a scheduler.', 'queued');
  execute('ncache_execute_missing_inputs_total', 'Execute calls answered FAILED_PRECONDITION because the Action, Command or input root was not in the CAS.', 'missingBlobs');
}
