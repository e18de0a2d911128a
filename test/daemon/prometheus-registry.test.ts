// The daemon's registry without a listener: histograms read at scrape time
// from LatencyHistogram come out with exact cumulative buckets, _sum and
// _count (checked through a real text-format parser, so a prom-client that
// stopped formatting them through getForPromString would fail here), and
// counters follow Metrics as calls are recorded.
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { LatencyHistogram, Metrics } from '../../src/daemon/metrics.js';
import { registerRequestMetrics } from '../../src/daemon/prometheus/request-metrics.js';
import { DURATION_BUCKETS_SECONDS, ScrapedHistogram } from '../../src/daemon/prometheus/scraped-histogram.js';
import { ManualClock } from '../../src/util/clock.js';
import { Scrape } from '../helpers/prometheus.js';

describe('ScrapedHistogram', () => {
  it('exposes exact cumulative buckets at powers of two of microseconds, the sum in seconds and the count', async () => {
    const registry = new Registry();
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (const ms of [0.05, 0.064, 0.1, 3, 5000]) a.record(ms);
    b.record(1);
    new ScrapedHistogram({ name: 'x_seconds', help: 'x', labelNames: ['which'], registry, read: () => [{ labels: { which: 'a' }, histogram: a }, { labels: { which: 'b' }, histogram: b }] });
    const s = new Scrape(await registry.metrics());
    expect(s.family('x_seconds').type).toBe('HISTOGRAM');
    const bucket = (which: string, le: string) => s.value('x_seconds_bucket', { which, le });
    expect(bucket('a', '0.000032')).toBe(0);
    // 50 µs and exactly 64 µs: a bound includes its edge.
    expect(bucket('a', '0.000064')).toBe(2);
    expect(bucket('a', '0.000128')).toBe(3);
    expect(bucket('a', '0.004096')).toBe(4);
    expect(bucket('a', '4.194304')).toBe(4);
    expect(bucket('a', '8.388608')).toBe(5);
    expect(bucket('a', '+Inf')).toBe(5);
    expect(s.value('x_seconds_count', { which: 'a' })).toBe(5);
    expect(s.value('x_seconds_sum', { which: 'a' })).toBeCloseTo(5.003214, 9);
    expect(bucket('b', '0.001024')).toBe(1);
    expect(bucket('b', '0.000512')).toBe(0);
    expect(s.samples('x_seconds_bucket', { which: 'b' })).toHaveLength(DURATION_BUCKETS_SECONDS.length + 1);
  });
});

describe('request metrics', () => {
  it('follow Metrics: codes, in-flight calls and lookups, read when scraped', async () => {
    const registry = new Registry();
    const metrics = new Metrics(new ManualClock(0));
    registerRequestMetrics(registry, metrics);
    const m = metrics.forPath('/build.bazel.remote.execution.v2.ActionCache/GetActionResult');
    const labels = { service: 'ac', method: 'GetActionResult' };
    let s = new Scrape(await registry.metrics());
    expect(s.value('ncache_requests_total', { ...labels, code: 'OK' })).toBe(0);
    m.requests += 3;
    m.finish(0, 1);
    m.hits += 1;
    m.finish(5, 2);
    m.misses += 1;
    s = new Scrape(await registry.metrics());
    expect(s.value('ncache_requests_total', { ...labels, code: 'OK' })).toBe(1);
    expect(s.value('ncache_requests_total', { ...labels, code: 'NOT_FOUND' })).toBe(1);
    expect(s.value('ncache_requests_in_flight', labels)).toBe(1);
    expect(s.value('ncache_lookups_total', { ...labels, unit: 'requests', result: 'hit' })).toBe(1);
    expect(s.value('ncache_lookups_total', { ...labels, unit: 'requests', result: 'miss' })).toBe(1);
    expect(s.value('ncache_request_duration_seconds_count', labels)).toBe(2);
  });
});
