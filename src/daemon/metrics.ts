// Request metrics for `ncache stats`: per gRPC method counts, errors by status
// code, cache hits and misses, bytes on the wire and a latency histogram.
// Recording is O(1) and allocation-free (numbers and typed arrays only), since
// it runs for every call; the work of summarizing happens in snapshot(), which
// runs only when someone asks.
import type { Clock } from '../util/clock.js';

/** gRPC status names by code (0..16), for the errors-by-code breakdown. */
export const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

// Buckets: 4 per doubling from 1 µs (each ~19% wide) up to 2^30 µs (~18 min);
// a percentile read from them is within one bucket width of the truth.
const BUCKETS_PER_OCTAVE = 4;
const OCTAVES = 30;
const BUCKET_COUNT = BUCKETS_PER_OCTAVE * OCTAVES + 1;

/** Upper bound (µs) of bucket i. Bucket 0 holds everything up to 1 µs; the last one everything beyond. */
function bucketUpperMicros(i: number): number {
  return i === BUCKET_COUNT - 1 ? Infinity : 2 ** (i / BUCKETS_PER_OCTAVE);
}

export interface LatencySummary {
  readonly count: number;
  /** Milliseconds; percentiles are the upper edge of their bucket, capped at the largest value seen. */
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

/** A log-bucketed latency histogram. */
export class LatencyHistogram {
  readonly counts = new Float64Array(BUCKET_COUNT);
  count = 0;
  sumMicros = 0;
  maxMicros = 0;

  /** Records one duration in milliseconds. */
  record(ms: number): void {
    const us = ms > 0 ? ms * 1000 : 0;
    let i = us <= 1 ? 0 : Math.ceil(Math.log2(us) * BUCKETS_PER_OCTAVE);
    if (i >= BUCKET_COUNT) i = BUCKET_COUNT - 1;
    this.counts[i]! += 1;
    this.count += 1;
    this.sumMicros += us;
    if (us > this.maxMicros) this.maxMicros = us;
  }

  /** Adds another histogram's counts into this one (for totals across methods). */
  add(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sumMicros += other.sumMicros;
    if (other.maxMicros > this.maxMicros) this.maxMicros = other.maxMicros;
  }

  /** The q-quantile (0 < q <= 1) in milliseconds, or null when empty. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketUpperMicros(i), this.maxMicros) / 1000;
    }
    return this.maxMicros / 1000;
  }

  summary(): LatencySummary {
    const empty = this.count === 0;
    return {
      count: this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: empty ? null : this.maxMicros / 1000,
      mean: empty ? null : this.sumMicros / this.count / 1000,
    };
  }
}

/**
 * What "hit" and "miss" mean for a method: whole requests (GetActionResult,
 * ByteStream Read) or the blobs inside one (FindMissingBlobs, BatchReadBlobs).
 */
export type HitUnit = 'requests' | 'blobs';

/** The counters of one gRPC method. Fields are public so the instrumentation can bump them without calls. */
export class MethodMetrics {
  requests = 0;
  /** Calls that ended, by status code (index = gRPC code; 0 = OK). */
  readonly byCode = new Float64Array(GRPC_CODE_NAMES.length);
  hits = 0;
  misses = 0;
  /** Bytes of request messages received and response messages sent (serialized protobuf). */
  bytesIn = 0;
  bytesOut = 0;
  readonly latency = new LatencyHistogram();

  constructor(
    readonly service: string,
    readonly method: string,
    /** Whether hits/misses are counted for this method, and in what unit. */
    readonly hitUnit: HitUnit | undefined,
    /** Long-lived streams (Health.Watch) are left out of latency totals. */
    readonly longLived: boolean,
  ) {}

  /** One finished call: its status code and how long it took. */
  finish(code: number, ms: number): void {
    this.byCode[code >= 0 && code < this.byCode.length ? code : 2]! += 1;
    this.latency.record(ms);
  }
}

export interface MethodSnapshot {
  readonly requests: number;
  /** Calls that ended with a non-OK status, by status name. */
  readonly errors: Record<string, number>;
  readonly errorCount: number;
  readonly hits?: number;
  readonly misses?: number;
  readonly hitUnit?: HitUnit;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly latencyMs: LatencySummary;
}

export interface ServiceSnapshot {
  readonly requests: number;
  readonly errors: number;
  /** Hits and misses summed over the methods that count them (absent when none does). */
  readonly hits?: number;
  readonly misses?: number;
  /** hits / (hits + misses), or null before the first lookup. */
  readonly hitRate?: number | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly latencyMs: LatencySummary;
  readonly methods: Record<string, MethodSnapshot>;
}

export interface MetricsSnapshot {
  readonly startedAtMs: number;
  readonly uptimeMs: number;
  readonly requests: number;
  readonly errors: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Latency over all calls except long-lived streams. */
  readonly latencyMs: LatencySummary;
  readonly services: Record<string, ServiceSnapshot>;
}

/** Short service names used in stats, by full gRPC service name. */
const SHORT_SERVICE: Record<string, string> = {
  'build.bazel.remote.execution.v2.ContentAddressableStorage': 'cas',
  'build.bazel.remote.execution.v2.ActionCache': 'ac',
  'build.bazel.remote.execution.v2.Capabilities': 'capabilities',
  'build.bazel.remote.execution.v2.Execution': 'execution',
  'google.bytestream.ByteStream': 'bytestream',
  'grpc.health.v1.Health': 'health',
};

const HIT_UNITS: Record<string, HitUnit> = {
  'cas/FindMissingBlobs': 'blobs',
  'cas/BatchReadBlobs': 'blobs',
  'ac/GetActionResult': 'requests',
  'bytestream/Read': 'requests',
  // The http_cache listener (src/daemon/http-cache/): one "method" per HTTP method and namespace.
  'http_cache/GET ac': 'requests',
  'http_cache/GET cas': 'requests',
  'http_cache/HEAD ac': 'requests',
  'http_cache/HEAD cas': 'requests',
};

const LONG_LIVED = new Set(['health/Watch', 'execution/Execute', 'execution/WaitExecution']);

/** Where lifetime totals are kept (the catalog's `counters` table). */
export interface CounterStore {
  add(deltas: Readonly<Record<string, number>>): void;
  read(prefix: string): Record<string, number>;
}

/** Lifetime totals of one service: everything counted by every daemon on this state dir. */
export interface LifetimeService {
  readonly requests: number;
  readonly errors: number;
  readonly hits: number;
  readonly misses: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface LifetimeSnapshot {
  readonly requests: number;
  readonly errors: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly services: Record<string, LifetimeService>;
}

/** Counter names: "grpc.<service>.<Method>.<field>". */
const COUNTER_PREFIX = 'grpc.';
const COUNTER_FIELDS = ['requests', 'errors', 'hits', 'misses', 'bytesIn', 'bytesOut'] as const;

export class Metrics {
  readonly startedAtMs: number;
  private readonly methods = new Map<string, MethodMetrics>();
  private counterStore: CounterStore | undefined;
  /** Totals as of the last flush, by counter name. */
  private readonly flushed = new Map<string, number>();

  constructor(private readonly clock: Clock) {
    this.startedAtMs = clock.now();
  }

  /**
   * The counters for a gRPC method path ("/google.bytestream.ByteStream/Read"),
   * created on first use. Called when a service is registered, not per call.
   */
  forPath(path: string): MethodMetrics {
    let m = this.methods.get(path);
    if (m === undefined) {
      const [, fullService = 'unknown', method = path] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
      const service = SHORT_SERVICE[fullService] ?? fullService;
      const key = `${service}/${method}`;
      m = new MethodMetrics(service, method, HIT_UNITS[key], LONG_LIVED.has(key));
      this.methods.set(path, m);
    }
    return m;
  }

  /** Every method's counters (for persistence of lifetime totals). */
  all(): Iterable<MethodMetrics> {
    return this.methods.values();
  }

  /** Keeps lifetime totals in `store`: flush() adds what was counted since the last flush. */
  persistTo(store: CounterStore): void {
    this.counterStore = store;
  }

  /** Writes the counts since the last flush to the counter store (no-op without one). */
  flush(): void {
    const store = this.counterStore;
    if (store === undefined) return;
    const current = this.totalsByName();
    const deltas: Record<string, number> = {};
    for (const [name, value] of current) {
      const delta = value - (this.flushed.get(name) ?? 0);
      if (delta !== 0) deltas[name] = delta;
    }
    store.add(deltas);
    for (const [name, value] of current) this.flushed.set(name, value);
  }

  /** Lifetime totals: what the store holds plus what this daemon counted since its last flush. */
  lifetime(): LifetimeSnapshot | undefined {
    const store = this.counterStore;
    if (store === undefined) return undefined;
    const totals = store.read(COUNTER_PREFIX);
    for (const [name, value] of this.totalsByName()) totals[name] = (totals[name] ?? 0) + value - (this.flushed.get(name) ?? 0);
    const services: Record<string, { -readonly [K in keyof LifetimeService]: number }> = {};
    const all = { requests: 0, errors: 0, bytesIn: 0, bytesOut: 0 };
    for (const [name, value] of Object.entries(totals)) {
      const parts = name.slice(COUNTER_PREFIX.length).split('.');
      if (parts.length !== 3) continue;
      const [service, , field] = parts as [string, string, string];
      if (!(COUNTER_FIELDS as readonly string[]).includes(field)) continue;
      const s = (services[service] ??= { requests: 0, errors: 0, hits: 0, misses: 0, bytesIn: 0, bytesOut: 0 });
      s[field as keyof LifetimeService] += value;
      if (field in all) all[field as keyof typeof all] += value;
    }
    return { ...all, services };
  }

  private totalsByName(): Map<string, number> {
    const out = new Map<string, number>();
    for (const m of this.methods.values()) {
      const base = `${COUNTER_PREFIX}${m.service}.${m.method}.`;
      let errors = 0;
      for (let code = 1; code < m.byCode.length; code++) errors += m.byCode[code]!;
      out.set(base + 'requests', m.requests);
      out.set(base + 'errors', errors);
      out.set(base + 'hits', m.hits);
      out.set(base + 'misses', m.misses);
      out.set(base + 'bytesIn', m.bytesIn);
      out.set(base + 'bytesOut', m.bytesOut);
    }
    return out;
  }

  snapshot(): MetricsSnapshot {
    const services: Record<string, ServiceSnapshot> = {};
    const overall = new LatencyHistogram();
    let requests = 0;
    let errors = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    const byService = new Map<string, MethodMetrics[]>();
    for (const m of this.methods.values()) {
      const list = byService.get(m.service) ?? [];
      list.push(m);
      byService.set(m.service, list);
    }
    for (const [service, list] of [...byService].sort(([a], [b]) => a.localeCompare(b))) {
      const latency = new LatencyHistogram();
      const methods: Record<string, MethodSnapshot> = {};
      let sReq = 0;
      let sErr = 0;
      let sIn = 0;
      let sOut = 0;
      let hits = 0;
      let misses = 0;
      let counted = false;
      for (const m of list.sort((a, b) => a.method.localeCompare(b.method))) {
        const snap = methodSnapshot(m);
        methods[m.method] = snap;
        sReq += m.requests;
        sErr += snap.errorCount;
        sIn += m.bytesIn;
        sOut += m.bytesOut;
        if (m.hitUnit !== undefined) {
          counted = true;
          hits += m.hits;
          misses += m.misses;
        }
        if (!m.longLived) latency.add(m.latency);
      }
      services[service] = {
        requests: sReq,
        errors: sErr,
        ...(counted ? { hits, misses, hitRate: hits + misses > 0 ? hits / (hits + misses) : null } : {}),
        bytesIn: sIn,
        bytesOut: sOut,
        latencyMs: latency.summary(),
        methods,
      };
      overall.add(latency);
      requests += sReq;
      errors += sErr;
      bytesIn += sIn;
      bytesOut += sOut;
    }
    const now = this.clock.now();
    return {
      startedAtMs: this.startedAtMs,
      uptimeMs: Math.max(0, now - this.startedAtMs),
      requests,
      errors,
      bytesIn,
      bytesOut,
      latencyMs: overall.summary(),
      services,
    };
  }
}

function methodSnapshot(m: MethodMetrics): MethodSnapshot {
  const errors: Record<string, number> = {};
  let errorCount = 0;
  for (let code = 1; code < m.byCode.length; code++) {
    const n = m.byCode[code]!;
    if (n > 0) {
      errors[GRPC_CODE_NAMES[code]!] = n;
      errorCount += n;
    }
  }
  return {
    requests: m.requests,
    errors,
    errorCount,
    ...(m.hitUnit !== undefined ? { hits: m.hits, misses: m.misses, hitUnit: m.hitUnit } : {}),
    bytesIn: m.bytesIn,
    bytesOut: m.bytesOut,
    latencyMs: m.latency.summary(),
  };
}
