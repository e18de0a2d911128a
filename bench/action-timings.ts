// Per-action stage durations from ExecutedActionMetadata: the timestamps the
// scheduler (queued) and the worker (everything after) write into every
// ActionResult. They are the daemon's own clock (milliseconds), so each
// duration is exact to about 1 ms; the execution benchmark reports their
// percentiles.
import type { ExecutedActionMetadata, Timestamp } from '../src/proto/reapi.js';
import { table } from './format.js';

/** Milliseconds each stage of one action took. */
export interface ActionTimings {
  /** queued -> a worker took it. */
  queueMs: number;
  /** worker start -> input fetch start (the worker's own setup). */
  workerSetupMs: number;
  /** Input tree fetched and materialized (hardlinks or copies). */
  inputFetchMs: number;
  /** input fetch done -> process started (environment, spawn). */
  spawnMs: number;
  /** queued -> process started: the scheduling overhead as the daemon sees it. */
  toProcessMs: number;
  /** The command itself. */
  executionMs: number;
  /** Outputs hashed and stored, result written. */
  outputUploadMs: number;
}

const ms = (t: Timestamp | null): number | undefined => (t === null ? undefined : t.seconds * 1000 + t.nanos / 1e6);

/** The stages of one run; undefined when the worker did not fill every timestamp (an action that failed before running). */
export function timingsOf(m: ExecutedActionMetadata): ActionTimings | undefined {
  const queued = ms(m.queuedTimestamp);
  const workerStart = ms(m.workerStartTimestamp);
  const fetchStart = ms(m.inputFetchStartTimestamp);
  const fetchDone = ms(m.inputFetchCompletedTimestamp);
  const execStart = ms(m.executionStartTimestamp);
  const execDone = ms(m.executionCompletedTimestamp);
  const uploadStart = ms(m.outputUploadStartTimestamp);
  const uploadDone = ms(m.outputUploadCompletedTimestamp);
  if (
    queued === undefined ||
    workerStart === undefined ||
    fetchStart === undefined ||
    fetchDone === undefined ||
    execStart === undefined ||
    execDone === undefined ||
    uploadStart === undefined ||
    uploadDone === undefined
  ) {
    return undefined;
  }
  return {
    queueMs: workerStart - queued,
    workerSetupMs: fetchStart - workerStart,
    inputFetchMs: fetchDone - fetchStart,
    spawnMs: execStart - fetchDone,
    toProcessMs: execStart - queued,
    executionMs: execDone - execStart,
    outputUploadMs: uploadDone - uploadStart,
  };
}

/** The p-th percentile (0..100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

const STAGES: [keyof ActionTimings, string][] = [
  ['toProcessMs', 'queued -> process started (total)'],
  ['queueMs', '  queued -> worker took it'],
  ['workerSetupMs', '  worker start -> input fetch'],
  ['inputFetchMs', '  input fetch + materialize'],
  ['spawnMs', '  inputs ready -> process started'],
  ['executionMs', 'command'],
  ['outputUploadMs', 'outputs stored + result'],
];

/** One row per stage: p50, p90, max (ms). */
export function timingTable(runs: readonly ActionTimings[]): string {
  const cell = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(1)} ms`);
  return table(
    ['stage', 'p50', 'p90', 'max'],
    STAGES.map(([key, label]) => {
      const values = runs.map((r) => r[key]);
      return [label, cell(percentile(values, 50)), cell(percentile(values, 90)), cell(percentile(values, 100))];
    }),
  );
}
