// S3 misbehaving during real Bazel builds on the seed stack (the config
// `ncache init --aws` writes: verify > dedup > lz4 > fast_slow over S3,
// written behind), one fault kind per case. Shared by the short form
// (test/e2e/s3-faults.test.ts, in npm test) and the full one
// (test/stress/s3-faults.stress.test.ts); only the workspace and the cases
// differ.
//
// Each case, under its own key prefix:
// 1. laptop A (fresh) runs a cold build with the fault on: the build succeeds
//    and every upload is acknowledged (Bazel warns of none);
// 2. the fault clears; A's write-behind drains and A stops with nothing owed;
//    the bucket holds an index entry for every output and one action result
//    per action;
// 3. laptop B (fresh fast tiers and state dir) builds after `bazel clean` with
//    the fault on again: every action is a remote cache hit, read from S3;
// 4. laptop C (fresh, no fault) reads every output back from S3 through the
//    whole stack, and each hashes to its digest;
// 5. at the proxy, no logical operation on one object took more than
//    1 + max_retries attempts (the retry policy in the config), and where the
//    case asks, each retry came no sooner than the policy's shortest backoff.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkSpecs } from '../../src/config/store-tree.js';
import { parseConfigText } from '../../src/config/load.js';
import type { RetrySpec } from '../../src/config/types.js';
import { type BazelRun, BazelWorkspace } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, outputNames } from '../helpers/bazel-gate.js';
import { FaultProxy, type ProxiedRequest, type S3Operation, attemptRuns } from '../helpers/fault-proxy.js';
import { type GenruleWorkspaceShape, genruleWorkspaceFiles } from '../helpers/genrule-workspace.js';
import { blobName, createReapiClient } from '../helpers/grpc-client.js';
import { bucketClient, listObjects, stopAndCheckFlushed } from '../helpers/s3-daemon.js';
import type { DaemonFixture } from '../helpers/daemon-process.js';
import { laptopStats, seedStackConfigText, seedStackLaptop, writeBehindDrained } from '../helpers/seed-stack-laptop.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';

export interface FaultCase {
  /** In test names and figures: "HTTP 500", "SlowDown", ... */
  readonly name: string;
  /** Turns the fault on as a build starts; returns what turns it off. Absent: the no-fault baseline. */
  readonly inject?: (proxy: FaultProxy) => () => void;
  /** Also check that every retry waited at least the policy's shortest backoff. */
  readonly checkBackoff?: boolean;
}

export interface S3FaultSuiteOptions {
  readonly testFile: string;
  readonly workspace: GenruleWorkspaceShape;
  readonly cases: readonly FaultCase[];
  /** Per case (vitest's bound, not an expectation). */
  readonly caseTimeoutMs: number;
}

/** Operations of a build's S3 traffic that carry an object (what the faults aim at). */
const OBJECT_OPS: S3Operation[] = ['HeadObject', 'GetObject', 'PutObject'];

/** An error status with S3's XML error code on the first `perKey` attempts of each operation on each object. */
export function statusFault(name: string, status: number, code: string, perKey: number): FaultCase {
  return {
    name,
    checkBackoff: code === 'SlowDown',
    inject: (proxy) => {
      proxy.inject({ ops: OBJECT_OPS, perKey, fault: { type: 'status', status, code } });
      return () => proxy.clearFaults();
    },
  };
}

/** The connection reset halfway through the body of the first `perKey` uploads and downloads of each object. */
export function resetFault(perKey: number): FaultCase {
  return {
    name: 'connection reset mid-body',
    inject: (proxy) => {
      proxy.inject({ ops: ['PutObject', 'GetObject'], perKey, fault: { type: 'reset' } });
      return () => proxy.clearFaults();
    },
  };
}

/** S3 drops every request for `ms`, from the build's first request to it. */
export function outageFault(ms: number): FaultCase {
  return {
    name: `${ms / 1000} s full outage`,
    inject: (proxy) => proxy.outageFromNextRequest(ms),
  };
}

/**
 * S3 stops answering mid-request and never resumes: `times` uploads get no
 * answer after their body, `times` downloads go silent halfway through theirs,
 * one existence check gets no answer. The client must give up on its own.
 */
export function stallFault(times: number): FaultCase {
  return {
    name: 'stall mid-request',
    inject: (proxy) => {
      proxy.inject({ ops: ['PutObject'], times, fault: { type: 'stall' } });
      proxy.inject({ ops: ['GetObject'], times, fault: { type: 'stall-body' } });
      proxy.inject({ ops: ['HeadObject'], times: 1, fault: { type: 'stall' } });
      return () => proxy.clearFaults();
    },
  };
}

/** The retry policy every S3 store in the seed-stack config uses (read from the config, never restated). */
function retryPolicyOf(configText: string): RetrySpec {
  const policies: RetrySpec[] = [];
  for (const named of parseConfigText(configText, 'seed-stack config', {}).stores) {
    walkSpecs(named.spec, named.name, (spec) => {
      if (spec.kind === 'experimental_cloud_object_store') policies.push(spec.retry);
    });
  }
  const distinct = new Set(policies.map((p) => JSON.stringify(p)));
  if (policies.length === 0 || distinct.size !== 1) throw new Error(`expected one retry policy, found ${[...distinct].join(', ') || 'none'}`);
  return policies[0]!;
}


const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const s3Retries = (stats: { s3: { retries: number }[] }) => stats.s3.reduce((n, s) => n + s.retries, 0);

/** What one case measured, printed per case and as a table at the end. */
export interface CaseFigures {
  readonly fault: string;
  readonly coldMs: number;
  readonly warmMs: number;
  /** Requests the proxy saw during both builds and the drain. */
  readonly requests: number;
  readonly faulted: number;
  /** Retries the daemons counted (A and B, every S3 store). */
  readonly retries: number;
  /** The most attempts one logical operation on one object made. */
  readonly maxAttempts: number;
  /** How long stalled requests waited before the client gave up (ms). */
  readonly stallsAbandonedMs: readonly number[];
}

export function describeS3FaultSuite(opts: S3FaultSuiteOptions): void {
  const bazel = bazelOrSkip(opts.testFile, 'S3 faults during Bazel builds');
  describe.skipIf(!bazel)('S3 faults during Bazel builds on the seed stack (real Bazel, s3rver, fault proxy)', () => {
    let s3: S3rverHandle;
    let proxy: FaultProxy;
    let ws: BazelWorkspace;
    let policy: RetrySpec;
    const laptops: DaemonFixture[] = [];
    const figures: CaseFigures[] = [];

    const laptop = async (prefix: string) => {
      const l = await seedStackLaptop({ endpoint: proxy.endpoint, bucket: s3.bucket, prefix });
      laptops.push(l);
      return l;
    };

    /** `bazel clean`, then a build against `url` with the fault on for exactly its duration. */
    const buildWith = async (url: string, fault: FaultCase): Promise<BazelRun> => {
      await ws.run('clean');
      const off = fault.inject?.(proxy);
      try {
        return await ws.run('build', [`--remote_cache=${url}`, '//...'], { executionLog: true });
      } finally {
        off?.();
      }
    };

    beforeAll(async () => {
      s3 = await startS3rver({ buckets: ['ncache-s3-faults'] });
      proxy = await FaultProxy.start(s3.endpoint);
      ws = await BazelWorkspace.create({ files: genruleWorkspaceFiles(opts.workspace) });
      // Start Bazel's server now, so the first case's build time does not include it.
      await ws.run('info');
      policy = retryPolicyOf(seedStackConfigText({ endpoint: proxy.endpoint, bucket: s3.bucket, prefix: 'p/' }, '/unused'));
    }, 5 * 60_000);

    afterAll(async () => {
      if (figures.length > 0) {
        const rows = figures.map(
          (f) =>
            `| ${f.fault} | ${Math.round(f.coldMs / 100) / 10} s | ${Math.round(f.warmMs / 100) / 10} s | ${f.requests} | ${f.faulted} | ${f.retries} | ${f.maxAttempts} |` +
            (f.stallsAbandonedMs.length > 0 ? ` stalls abandoned after ${f.stallsAbandonedMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')}` : ''),
        );
        console.log(
          ['[s3 faults] figures', '| fault | cold build (A) | warm build (B) | S3 requests | faulted | retries | max attempts/op |', '|---|---|---|---|---|---|---|', ...rows].join('\n'),
        );
      }
      proxy?.clearFaults();
      proxy?.setDown(false);
      proxy?.releaseStalls();
      for (const l of laptops) await l.cleanup();
      await ws?.cleanup();
      await proxy?.close();
      await s3?.stop();
    }, 5 * 60_000);

    for (const fault of opts.cases) {
      it(
        `${fault.name}: the build succeeds, nothing acknowledged is lost, attempts stay within the retry policy`,
        async () => {
          const prefix = `${slug(fault.name)}/`;
          const requests: ProxiedRequest[] = [];

          // 1. Cold build through A with the fault on.
          const a = await laptop(prefix);
          const daemonA = await a.start();
          proxy.resetCounts();
          const cold = await buildWith(daemonA.url, fault);
          const actions = cacheable(cold.spawns!).length;
          expect(actions, describeRun(cold)).toBe(opts.workspace.actions);
          expect(cold.summary?.executed, describeRun(cold)).toBe(actions);
          // Every upload was acknowledged: Bazel warns when a write to the remote cache fails.
          expect(cold.stderr, describeRun(cold)).not.toMatch(/Writing to Remote Cache/);

          // 2. The fault is off: A delivers what it owes.
          await writeBehindDrained(a, 3 * 60_000);
          const statsA = await laptopStats(a);
          const stallsAbandonedMs = [...proxy.stallsAbandoned()];
          requests.push(...proxy.requests);
          expect(await stopAndCheckFlushed(daemonA), daemonA.stderr()).toEqual({ exitCode: 0, stillOwed: [] });
          const bucket = bucketClient(s3.endpoint);
          try {
            const index = new Set((await listObjects(bucket, s3.bucket, `${prefix}index/`)).map((o) => o.key.slice(`${prefix}index/`.length)));
            expect([...outputNames(cold)].filter((n) => !index.has(n))).toEqual([]);
            expect((await listObjects(bucket, s3.bucket, `${prefix}ac/`)).length).toBe(actions);
          } finally {
            bucket.destroy();
          }

          // 3. Warm build through B (nothing local) with the fault on again.
          const b = await laptop(prefix);
          const daemonB = await b.start();
          proxy.resetCounts();
          const warm = await buildWith(daemonB.url, fault);
          expect(warm.summary?.executed, describeRun(warm)).toBe(0);
          expect(warm.summary?.remoteCacheHits, describeRun(warm)).toBe(actions);
          const statsB = await laptopStats(b);
          stallsAbandonedMs.push(...proxy.stallsAbandoned());
          requests.push(...proxy.requests);
          await daemonB.stop({ timeoutMs: 30_000 });

          // 4. Every output reads back from S3 through the whole stack (C has nothing local) and hashes to its digest.
          const c = await laptop(prefix);
          const daemonC = await c.start();
          const client = createReapiClient(daemonC.address);
          try {
            for (const name of outputNames(cold)) {
              const [hash, size] = name.split('-') as [string, string];
              const sha = createHash('sha256');
              let bytes = 0;
              for await (const msg of client.readStream(blobName('', { hash, sizeBytes: Number(size) })) as AsyncIterable<{ data: Buffer }>) {
                sha.update(msg.data);
                bytes += msg.data.length;
              }
              expect({ name, bytes, hash: sha.digest('hex') }).toEqual({ name, bytes: Number(size), hash });
            }
          } finally {
            client.close();
            await daemonC.stop({ timeoutMs: 30_000 });
          }

          // 5. Attempts per logical operation, at the proxy.
          const runs = attemptRuns(requests);
          const maxAttempts = Math.max(...runs.map((r) => r.attempts.length));
          const overBudget = runs.filter((r) => r.attempts.length > 1 + policy.max_retries);
          expect(overBudget.map((r) => `${r.op} ${r.path}: ${r.attempts.map((x) => x.fault ?? 'ok').join(', ')}`)).toEqual([]);
          if (fault.checkBackoff) {
            // The wait before retry n is at least delay * 2^n * (1 - jitter / 2); the proxy sees it as the gap between arrivals.
            const early = runs.flatMap((r) =>
              r.attempts.slice(1).flatMap((x, n) => {
                const gapMs = x.at - r.attempts[n]!.at;
                const minMs = policy.delay * 1000 * 2 ** n * (1 - policy.jitter / 2);
                return gapMs < minMs ? [`${r.op} ${r.path}: retry ${n} after ${Math.round(gapMs)} ms (< ${minMs} ms)`] : [];
              }),
            );
            expect(early).toEqual([]);
            expect(runs.some((r) => r.attempts.length > 1), 'the fault should have forced retries').toBe(true);
          }
          const faulted = requests.filter((r) => r.fault !== undefined).length;
          if (fault.inject !== undefined) expect(faulted, 'the fault should have hit some requests').toBeGreaterThan(0);

          const f: CaseFigures = {
            fault: fault.name,
            coldMs: cold.elapsedMs,
            warmMs: warm.elapsedMs,
            requests: requests.length,
            faulted,
            retries: s3Retries(statsA) + s3Retries(statsB),
            maxAttempts,
            stallsAbandonedMs,
          };
          figures.push(f);
          console.log(`[s3 faults] ${JSON.stringify(f)}`);
        },
        opts.caseTimeoutMs,
      );
    }
  });
}
