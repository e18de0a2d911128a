import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { LatencyHistogram, Metrics } from '../../src/daemon/metrics.js';
import { silentLogger } from '../../src/util/logger.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { ManualClock } from '../../src/util/clock.js';
import { digestOf } from '../../src/util/digest.js';
import { type Fixture, fixtureConfig, startFixture } from './fixture.js';

describe('LatencyHistogram', () => {
  it('reports percentiles within one bucket (~19%) of the true value', () => {
    const h = new LatencyHistogram();
    // 1..1000 ms, one each: p50 = 500, p90 = 900, p99 = 990.
    for (let ms = 1; ms <= 1000; ms++) h.record(ms);
    const s = h.summary();
    expect(s.count).toBe(1000);
    for (const [got, want] of [
      [s.p50, 500],
      [s.p90, 900],
      [s.p99, 990],
    ] as const) {
      expect(got).not.toBeNull();
      expect(got!).toBeGreaterThanOrEqual(want);
      expect(got!).toBeLessThanOrEqual(want * 1.19);
    }
    expect(s.max).toBe(1000);
    expect(s.mean).toBeCloseTo(500.5, 6);
  });

  it('is empty until something is recorded, caps percentiles at the max, and merges', () => {
    const h = new LatencyHistogram();
    expect(h.summary()).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null, mean: null });
    h.record(3);
    expect(h.quantile(0.99)).toBe(3);
    const other = new LatencyHistogram();
    other.record(0);
    other.record(1e9); // beyond the last bucket: clamped, not lost
    h.add(other);
    expect(h.count).toBe(3);
    expect(h.quantile(0.1)).toBe(0.001); // the first bucket: up to 1 µs
    expect(h.quantile(1)).toBe(1e9);
  });
});

describe('Metrics', () => {
  it('groups methods by service and computes hit rates and uptime', () => {
    const clock = new ManualClock();
    const metrics = new Metrics(clock);
    const fmb = metrics.forPath('/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs');
    expect(metrics.forPath('/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs')).toBe(fmb);
    fmb.requests = 2;
    fmb.hits = 3;
    fmb.misses = 1;
    fmb.finish(0, 1);
    fmb.finish(5, 2);
    clock.advance(1234);
    const snap = metrics.snapshot();
    expect(snap.uptimeMs).toBe(1234);
    expect(snap.services.cas).toMatchObject({ requests: 2, errors: 1, hits: 3, misses: 1, hitRate: 0.75 });
    expect(snap.services.cas!.methods.FindMissingBlobs!.errors).toEqual({ NOT_FOUND: 1 });
  });
});

describe('gRPC instrumentation (real daemon)', () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.stop();
    fx = undefined;
  });

  it('counts requests, hits, misses, errors and bytes of real calls exactly', async () => {
    fx = await startFixture({ completeness: false });
    const { client } = fx;
    const a = Buffer.from('alpha blob');
    const b = Buffer.from('bravo blob, a little longer');
    const absent = digestOf(Buffer.from('never uploaded'));
    const da = await client.uploadBlob(a);
    await client.batchUpdateBlobs({ requests: [{ digest: digestOf(b), data: b }] });

    // FindMissingBlobs: 3 asked, 1 missing.
    await client.findMissingBlobs({ blobDigests: [da, digestOf(b), absent] });
    // BatchReadBlobs: 1 found, 1 not found.
    await client.batchReadBlobs({ digests: [da, absent] });
    // ByteStream Read: 2 found, 1 not found.
    expect(await client.downloadBlob(da)).toEqual(a);
    expect(await client.downloadBlob(digestOf(b))).toEqual(b);
    await expect(client.downloadBlob(absent)).rejects.toMatchObject({ code: 5 });
    // ActionCache: 1 miss, then 1 hit.
    const action = digestOf(Buffer.from('action'));
    await expect(client.getActionResult({ actionDigest: action })).rejects.toMatchObject({ code: 5 });
    await client.updateActionResult({ actionDigest: action, actionResult: { exitCode: 0, stdoutDigest: da } });
    await client.getActionResult({ actionDigest: action });

    const snap = fx.daemon.metrics.snapshot();
    const cas = snap.services.cas!;
    expect(cas.methods.FindMissingBlobs).toMatchObject({ requests: 1, hits: 2, misses: 1, errorCount: 0 });
    expect(cas.methods.BatchReadBlobs).toMatchObject({ requests: 1, hits: 1, misses: 1 });
    expect(cas.methods.BatchUpdateBlobs).toMatchObject({ requests: 1 });
    expect(cas.methods.BatchUpdateBlobs!.bytesIn).toBeGreaterThan(b.length);
    expect(cas).toMatchObject({ requests: 3, hits: 3, misses: 2, hitRate: 3 / 5 });

    const bs = snap.services.bytestream!;
    expect(bs.methods.Read).toMatchObject({ requests: 3, hits: 2, misses: 1, errors: { NOT_FOUND: 1 }, errorCount: 1 });
    expect(bs.methods.Read!.bytesOut).toBeGreaterThanOrEqual(a.length + b.length);
    expect(bs.methods.Write).toMatchObject({ requests: 1, errorCount: 0 });
    expect(bs.methods.Write!.bytesIn).toBeGreaterThanOrEqual(a.length);
    expect(bs.methods.Read!.latencyMs.count).toBe(3);

    const ac = snap.services.ac!;
    expect(ac.methods.GetActionResult).toMatchObject({ requests: 2, hits: 1, misses: 1, errors: { NOT_FOUND: 1 } });
    expect(ac.methods.UpdateActionResult).toMatchObject({ requests: 1, errorCount: 0 });
    expect(ac.hitRate).toBe(0.5);

    expect(snap.requests).toBe(3 + 4 + 3);
    expect(snap.errors).toBe(2);
    expect(snap.latencyMs.count).toBe(snap.requests);
  });
});

describe('lifetime totals in the catalog', () => {
  it('flush adds only what was counted since the last flush; lifetime() adds what is not flushed yet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ncache-metrics-'));
    const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
    try {
      const first = new Metrics(new ManualClock());
      first.persistTo(catalog.counters);
      const get = first.forPath('/build.bazel.remote.execution.v2.ActionCache/GetActionResult');
      get.requests = 3;
      get.hits = 2;
      get.misses = 1;
      get.finish(5, 1);
      first.flush();
      get.requests = 4; // one more, not flushed
      first.flush();
      first.flush(); // nothing new: adds nothing
      expect(catalog.counters.read('grpc.ac.GetActionResult.')).toEqual({
        'grpc.ac.GetActionResult.requests': 4,
        'grpc.ac.GetActionResult.hits': 2,
        'grpc.ac.GetActionResult.misses': 1,
        'grpc.ac.GetActionResult.errors': 1,
        // Counters that never moved are not written.
      });
      // A second daemon's counts add to the first's.
      const second = new Metrics(new ManualClock());
      second.persistTo(catalog.counters);
      second.forPath('/build.bazel.remote.execution.v2.ActionCache/GetActionResult').requests = 10;
      expect(second.lifetime()).toMatchObject({ requests: 14, errors: 1, services: { ac: { requests: 14, hits: 2, misses: 1 } } });
      expect(new Metrics(new ManualClock()).lifetime()).toBeUndefined();
    } finally {
      catalog.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a daemon saves its counts at stop, and the next one on the same state dir starts from them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ncache-metrics-'));
    try {
      const config = fixtureConfig(dir, { completeness: false });
      const run = async (calls: number) => {
        const daemon = await startDaemon({ config, logger: silentLogger, stateDir: join(dir, 'state') });
        const client = new ReapiClient(daemon.addresses[0]!);
        try {
          for (let i = 0; i < calls; i++) await client.findMissingBlobs({ blobDigests: [digestOf(Buffer.from(`blob ${i}`))] });
          return daemon.metrics.lifetime()!;
        } finally {
          client.close();
          await daemon.stop({ graceMs: 1000 });
        }
      };
      expect((await run(2)).services.cas).toMatchObject({ requests: 2, misses: 2, hits: 0 });
      expect((await run(3)).services.cas).toMatchObject({ requests: 5, misses: 5, hits: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
