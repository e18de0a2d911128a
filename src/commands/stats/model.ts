// What `ncache stats` shows, as titled tables of strings: built once from the
// daemon's StatsResult and drawn either as plain text (piped, CI, no --watch)
// or by the ink view (stats-view.tsx), so both always show the same numbers.
import type { StatsResult } from '../../daemon/control/stats.js';
import type { ServiceSnapshot } from '../../daemon/metrics.js';
import { formatDuration } from '../../util/durations.js';
import { formatBytes } from '../../util/sizes.js';

export interface StatsTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Columns whose cells are right-aligned (numbers). */
  readonly rightAligned: ReadonlySet<number>;
}

export interface StatsModel {
  readonly header: string;
  readonly tables: readonly StatsTable[];
}

/** Services in display order; others follow alphabetically. */
const SERVICE_ORDER = ['cas', 'ac', 'bytestream', 'capabilities', 'execution', 'health'];

/**
 * The model of one stats result. With `previous` (the last result in --watch),
 * request columns gain a rate per second over the interval between them.
 */
export function buildStatsModel(result: StatsResult, previous?: StatsResult): StatsModel {
  const d = result.daemon;
  const header =
    `ncache ${d.version}  pid ${d.pid}  up ${formatDuration(Math.floor(d.uptimeMs / 1000))}` +
    (d.addresses.length > 0 ? `  ${d.addresses.join(' ')}` : '');
  const tables = [
    requestsTable(result, previous),
    lifetimeTable(result),
    storesTable(result),
    dedupTable(result),
    compressionTable(result),
    s3Table(result),
    upstreamTable(result),
    backlogTable(result),
    executionTable(result),
  ].filter((t): t is StatsTable => t !== undefined);
  return { header, tables };
}

type RequestCounts = Pick<ServiceSnapshot, 'requests' | 'errors' | 'hits' | 'misses' | 'hitRate' | 'bytesIn' | 'bytesOut' | 'latencyMs'>;

/** This run's requests per service and in all, with a rate when there is a previous result. */
function requestsTable(result: StatsResult, previous: StatsResult | undefined): StatsTable | undefined {
  const req = result.requests;
  if (req === null) return undefined;
  const elapsedS = previous ? (result.daemon.uptimeMs - previous.daemon.uptimeMs) / 1000 : 0;
  const rate = (now: number, before: number | undefined) =>
    elapsedS > 0 && before !== undefined ? (Math.max(0, now - before) / elapsedS).toFixed(1) : '-';
  const row = (name: string, s: RequestCounts, before: number | undefined) => [
    name,
    String(s.requests),
    rate(s.requests, before),
    String(s.errors),
    s.hitRate === undefined || s.hitRate === null ? '-' : `${(s.hitRate * 100).toFixed(1)}%`,
    s.hits === undefined ? '-' : `${s.hits}/${s.misses ?? 0}`,
    formatBytes(s.bytesIn),
    formatBytes(s.bytesOut),
    ms(s.latencyMs.p50),
    ms(s.latencyMs.p90),
    ms(s.latencyMs.p99),
  ];
  const rows = serviceNames(req.services).map((name) => row(name, req.services[name]!, previous?.requests?.services[name]?.requests));
  rows.push(row('all', { ...req, hits: undefined, hitRate: undefined }, previous?.requests?.requests));
  return {
    title: 'Requests',
    columns: ['service', 'requests', 'req/s', 'errors', 'hit rate', 'hits/misses', 'in', 'out', 'p50', 'p90', 'p99'],
    rows,
    rightAligned: new Set([1, 2, 3, 4, 6, 7, 8, 9, 10]),
  };
}

/** Lifetime totals kept in the catalog (since the first start on this state dir). */
function lifetimeTable(result: StatsResult): StatsTable | undefined {
  const life = result.lifetime;
  if (life === null || life === undefined) return undefined;
  const row = (name: string, s: { requests: number; errors: number; hits?: number; misses?: number; bytesIn: number; bytesOut: number }) => {
    const lookups = (s.hits ?? 0) + (s.misses ?? 0);
    return [
      name,
      String(s.requests),
      String(s.errors),
      s.hits === undefined || lookups === 0 ? '-' : `${((s.hits / lookups) * 100).toFixed(1)}%`,
      formatBytes(s.bytesIn),
      formatBytes(s.bytesOut),
    ];
  };
  return {
    title: 'Since the first start (this state dir)',
    columns: ['service', 'requests', 'errors', 'hit rate', 'in', 'out'],
    rows: [...serviceNames(life.services).map((n) => row(n, life.services[n]!)), row('all', life)],
    rightAligned: new Set([1, 2, 3, 4, 5]),
  };
}

/** Every store's tree, indented by depth. */
function storesTable(result: StatsResult): StatsTable {
  const rows: string[][] = [];
  for (const store of result.stores) {
    for (const t of store.tiers) {
      const name = t.depth === 0 ? store.name : `${'  '.repeat(t.depth)}${t.path.split('.').pop()}`;
      rows.push([
        name,
        t.kind,
        t.tier ?? '',
        t.blobs === null ? '' : String(t.blobs),
        t.bytes === null ? '' : formatBytes(t.bytes),
        t.maxBytes === null ? '' : formatBytes(t.maxBytes),
        t.evictions === null ? '' : String(t.evictions),
      ]);
    }
  }
  return {
    title: 'Stores',
    columns: ['store', 'kind', 'tier', 'blobs', 'bytes', 'max', 'evictions'],
    rows,
    rightAligned: new Set([3, 4, 5, 6]),
  };
}

function dedupTable(result: StatsResult): StatsTable | undefined {
  if (result.dedup.length === 0) return undefined;
  return {
    title: 'Dedup',
    columns: ['path', 'blobs', 'logical', 'unique chunks', 'chunk bytes', 'ratio', 'reused', 'written'],
    rows: result.dedup.map((x) => [
      x.path,
      String(x.blobs),
      formatBytes(x.logicalBytes),
      String(x.chunks),
      formatBytes(x.chunkBytes),
      ratio(x.dedupRatio),
      String(x.chunksReused),
      String(x.chunksWritten),
    ]),
    rightAligned: new Set([1, 2, 3, 4, 5, 6, 7]),
  };
}

function compressionTable(result: StatsResult): StatsTable | undefined {
  if (result.compression.length === 0) return undefined;
  return {
    title: 'Compression',
    columns: ['path', 'logical', 'stored', 'ratio'],
    rows: result.compression.map((x) => [x.path, formatBytes(x.logicalBytes), formatBytes(x.storedBytes), ratio(x.ratio)]),
    rightAligned: new Set([1, 2, 3]),
  };
}

function s3Table(result: StatsResult): StatsTable | undefined {
  if (result.s3.length === 0) return undefined;
  return {
    title: 'S3',
    columns: ['path', 'bucket/prefix', 'requests', 'retries', 'up', 'down'],
    rows: result.s3.map((x) => [
      x.path,
      `${x.bucket}/${x.prefix}`,
      Object.entries(x.requests)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([op, n]) => `${op} ${n}`)
        .join(', ') || '-',
      String(x.retries),
      formatBytes(x.bytesUploaded),
      formatBytes(x.bytesDownloaded),
    ]),
    rightAligned: new Set([3, 4, 5]),
  };
}

/** grpc stores: calls to the upstream REAPI server. */
function upstreamTable(result: StatsResult): StatsTable | undefined {
  if (result.upstream.length === 0) return undefined;
  return {
    title: 'Upstream',
    columns: ['path', 'upstream', 'requests', 'errors', 'retries', 'up', 'down'],
    rows: result.upstream.map((x) => [
      x.path,
      `${x.storeType} ${x.addresses.join(', ')}${x.instanceName === '' ? '' : ` (${x.instanceName})`}`,
      String(x.requests),
      String(x.errors),
      String(x.retries),
      formatBytes(x.bytesUploaded),
      formatBytes(x.bytesDownloaded),
    ]),
    rightAligned: new Set([2, 3, 4, 5, 6]),
  };
}

/** Uploads owed to slow tiers, per fast_slow store and in all. */
function backlogTable(result: StatsResult): StatsTable | undefined {
  const b = result.uploadBacklog;
  if (b.stores.length === 0) return undefined;
  return {
    title: 'Upload backlog',
    columns: ['path', 'blobs', 'bytes', 'oldest', 'uploading', 'uploaded', 'last error'],
    rows: [
      ...b.stores.map((x) => [
        x.path,
        String(x.blobs),
        formatBytes(x.bytes),
        age(x.oldestAgeMs),
        String(x.uploading),
        String(x.uploaded),
        x.lastError ?? '',
      ]),
      ['all', String(b.blobs), formatBytes(b.bytes), age(b.oldestAgeMs), '', '', ''],
    ],
    rightAligned: new Set([1, 2, 3, 4, 5]),
  };
}

/** Remote execution per scheduler: its queue, counts, and queue wait / run time percentiles of recent actions. */
function executionTable(result: StatsResult): StatsTable | undefined {
  const e = result.execution;
  if (e === null || e === undefined) return undefined;
  const hits = e.cacheHits === null ? '' : ` (${e.cacheHits} answered from the cache by Execute)`;
  return {
    title: `Execution${hits}`,
    columns: ['scheduler', 'workers', 'slots', 'queued', 'executing', 'completed', 'failed', 'merged', 'retried', 'wait p50', 'p90', 'p99', 'run p50', 'p90', 'p99'],
    rows: e.schedulers.map((s) => [
      s.name,
      String(s.workers),
      String(s.slots),
      String(s.queued),
      String(s.executing),
      String(s.completed),
      String(s.failed),
      String(s.merged),
      String(s.retried),
      ms(s.queueWaitMs.p50),
      ms(s.queueWaitMs.p90),
      ms(s.queueWaitMs.p99),
      ms(s.executionMs.p50),
      ms(s.executionMs.p90),
      ms(s.executionMs.p99),
    ]),
    rightAligned: new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
  };
}

/** Service names in display order (SERVICE_ORDER, then the rest alphabetically). */
function serviceNames(services: Record<string, unknown>): string[] {
  return Object.keys(services).sort((a, b) => order(a) - order(b) || a.localeCompare(b));
}

/** The model as plain, aligned text (no colour, no cursor movement): one block per call. */
export function renderStatsText(model: StatsModel): string {
  const lines = [model.header];
  for (const table of model.tables) {
    lines.push('', table.title);
    for (const line of alignTable(table)) lines.push(`  ${line}`.trimEnd());
  }
  return lines.join('\n') + '\n';
}

/** Header and rows as padded lines. */
export function alignTable(table: Pick<StatsTable, 'columns' | 'rows' | 'rightAligned'>): string[] {
  const all = [table.columns, ...table.rows];
  const widths = table.columns.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r.map((cell, i) => (table.rightAligned.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  '),
  );
}

/** Milliseconds for humans: "0.42ms", "4.2ms", "120ms", "1.5s"; "-" when there is no value yet. */
export function ms(v: number | null): string {
  if (v === null) return '-';
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}s`;
  if (v >= 100) return `${v.toFixed(0)}ms`;
  if (v >= 10) return `${v.toFixed(1)}ms`;
  return `${v.toFixed(2)}ms`;
}

function order(service: string): number {
  const i = SERVICE_ORDER.indexOf(service);
  return i === -1 ? SERVICE_ORDER.length : i;
}

function ratio(v: number): string {
  return `${v.toFixed(2)}x`;
}

function age(msValue: number | null): string {
  return msValue === null ? '-' : formatDuration(Math.floor(msValue / 1000));
}

