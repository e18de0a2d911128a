// Per service and method: what `ncache stats` counts for every call (metrics.ts),
// read when Prometheus scrapes. Services are the short names stats uses (cas,
// ac, bytestream, capabilities, execution, health, http_cache).
import { Counter, Gauge, type Registry } from 'prom-client';
import { GRPC_CODE_NAMES, type MethodMetrics, type Metrics } from '../metrics.js';
import { ScrapedHistogram } from './scraped-histogram.js';

const METHOD_LABELS = ['service', 'method'] as const;

export function registerRequestMetrics(registry: Registry, metrics: Metrics): void {
  const methods = () => [...metrics.all()];
  const labelsOf = (m: MethodMetrics) => ({ service: m.service, method: m.method });

  new Counter({
    name: 'ncache_requests_total',
    help: 'Calls that ended, by gRPC status code name (http_cache requests by the code their HTTP status maps to).',
    labelNames: [...METHOD_LABELS, 'code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of methods()) {
        for (const [code, name] of GRPC_CODE_NAMES.entries()) {
          const n = m.byCode[code] ?? 0;
          // OK always, so a method has a series from the start; other codes once they happened.
          if (n > 0 || code === 0) this.inc({ ...labelsOf(m), code: name }, n);
        }
      }
    },
  });
  new Gauge({
    name: 'ncache_requests_in_flight',
    help: 'Calls started and not yet ended (long-lived streams such as Execute and Health.Watch included).',
    labelNames: METHOD_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const m of methods()) this.set(labelsOf(m), m.requests - m.byCode.reduce((a, b) => a + b, 0));
    },
  });
  new ScrapedHistogram({
    name: 'ncache_request_duration_seconds',
    help: 'Time from a call reaching its handler to its end.',
    labelNames: METHOD_LABELS,
    registry,
    read: () => methods().map((m) => ({ labels: labelsOf(m), histogram: m.latency })),
  });
  const bytes = (name: string, help: string, field: 'bytesIn' | 'bytesOut') =>
    new Counter({
      name,
      help,
      labelNames: METHOD_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const m of methods()) this.inc(labelsOf(m), m[field]);
      },
    });
  bytes('ncache_request_bytes_total', 'Bytes of request messages received (serialized protobuf; HTTP bodies for http_cache).', 'bytesIn');
  bytes('ncache_response_bytes_total', 'Bytes of response messages sent (serialized protobuf; HTTP bodies for http_cache).', 'bytesOut');
  new Counter({
    name: 'ncache_lookups_total',
    help: 'Cache lookups by result (hit, miss); unit "blobs" counts each digest of FindMissingBlobs and BatchReadBlobs, "requests" each call.',
    labelNames: [...METHOD_LABELS, 'unit', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of methods()) {
        if (m.hitUnit === undefined) continue;
        this.inc({ ...labelsOf(m), unit: m.hitUnit, result: 'hit' }, m.hits);
        this.inc({ ...labelsOf(m), unit: m.hitUnit, result: 'miss' }, m.misses);
      }
    },
  });
}
