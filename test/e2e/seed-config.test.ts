// The reference config (test/fixtures/configs/nativelink-s3-example.json5, the
// seed's "Complete Configuration" block verbatim): verify -> dedup {index:
// fast_slow(memory, S3), content: compression(lz4) -> fast_slow(memory, S3)}
// for the CAS, fast_slow(memory, S3) for the AC, instance "main". S3 is
// s3rver (behind the counting proxy) through AWS_ENDPOINT_URL_S3, with
// s3rver's credentials in the standard AWS variables; the region is the
// file's own.
//
// Port: the file listens on 0.0.0.0:50051, a port other things use too (any
// ncache daemon on its default config holds 127.0.0.1:50051, and Linux will
// not let 0.0.0.0:50051 be bound then). So:
// - The first suite runs the file ITSELF, unchanged, on 0.0.0.0:50051: Health,
//   Capabilities, Execution (its scheduler has no worker: a missing action is
//   asked for, an uploaded one fails with the scheduler's no-worker error after
//   worker_timeout_s) and a multi-chunk
//   blob through ByteStream into S3 and back. Runs of this file serialize on a
//   lock directory; if another process holds 50051 the suite waits for it,
//   bounded, then FAILS naming the port (it never skips and never moves it).
// - The Bazel suite runs a copy in which only `socket_address` differs
//   ("0.0.0.0:0": the daemon reports the port it got), checked line by line,
//   so it can run beside anything. Laptop A serves it for a cold Bazel build
//   and a 13 MB blob; A stops; laptop B (a fresh process, its own state dir
//   and catalog, empty memory tiers, same bucket) with a fresh Bazel output
//   base gets every cacheable action as a remote cache hit and reads the blob
//   back byte for byte, rebuilt from the index entry and chunks in S3.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { walkSpecs } from '../../src/config/store-tree.js';
import type { CloudObjectStoreSpec } from '../../src/config/types.js';
import { type Digest, digestKey } from '../../src/util/digest.js';
import { type BazelRun, BazelWorkspace } from '../helpers/bazel.js';
import { bazelOrSkip, cacheable, describeRun, labels } from '../helpers/bazel-gate.js';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { blobName, createReapiClient, type ReapiClient, uploadName } from '../helpers/grpc-client.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { bucketClient, listObjects, s3DaemonEnv } from '../helpers/s3-daemon.js';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.js';
import { S3World } from '../helpers/s3-world.js';
import { deterministicBytes } from '../helpers/data.js';
import { waitFor } from '../helpers/wait-for.js';
import { finalResponse, missingBlobsOf, stagesOf, uploadAction } from '../daemon/execution-helpers.js';

const bazel = bazelOrSkip('test/e2e/seed-config.test.ts', 'seed config end to end');
const STEP_TIMEOUT = 10 * 60_000;
const SEED_CONFIG = fileURLToPath(new URL('../fixtures/configs/nativelink-s3-example.json5', import.meta.url));
const SEED_PORT = 50051;
const INSTANCE = 'main';
const SHA256 = 1; // DigestFunction.Value.SHA256

/** The seed's S3 stores, read from the file itself (bucket, region, prefixes are never restated here). */
async function seedS3Stores(): Promise<CloudObjectStoreSpec[]> {
  const config = await loadConfigFile(SEED_CONFIG, {});
  const out: CloudObjectStoreSpec[] = [];
  config.stores.forEach((named, i) =>
    walkSpecs(named.spec, `stores[${i}]`, (spec) => {
      if (spec.kind === 'experimental_cloud_object_store') out.push(spec);
    }),
  );
  return out;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Serializes every run of this file on one machine: a lock directory holding
 * the owner's pid. A lock whose owner is gone is taken over. Returns release().
 */
async function lockSeedPort(timeoutMs: number): Promise<() => Promise<void>> {
  const dir = join(tmpdir(), `ncache-e2e-port-${SEED_PORT}.lock`);
  const pidFile = join(dir, 'pid');
  let owner = 0;
  const take = async (): Promise<(() => Promise<void>) | undefined> => {
    try {
      await mkdir(dir);
      await writeFile(pidFile, String(process.pid));
      return () => rm(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return undefined;
    }
  };
  const takeOrTakeOver = async () => {
    const release = await take();
    if (release) return release;
    owner = Number(await readFile(pidFile, 'utf8').catch(() => ''));
    // No pid yet: the owner is between mkdir and writeFile, unless the directory is old.
    const young = Date.now() - (await stat(dir).catch(() => ({ mtimeMs: 0 }))).mtimeMs < 10_000;
    const stale = owner > 0 ? !alive(owner) : !young;
    if (!stale) return undefined;
    await rm(dir, { recursive: true, force: true });
    return take();
  };
  return waitFor(takeOrTakeOver, {
    what: () => `another run of this test (pid ${owner || '?'}) to release ${dir}; port ${SEED_PORT} is still theirs`,
    timeoutMs,
    intervalMs: 1_000,
  });
}

/** Resolves once 0.0.0.0:50051 can be bound (checked by binding it), or fails after timeoutMs naming the port and its holder. */
async function waitForFreePort(timeoutMs: number): Promise<void> {
  const portIsFree = () =>
    new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ port: SEED_PORT, host: '0.0.0.0', exclusive: true }, () => probe.close(() => resolve(true)));
    });
  const holder = () => {
    try {
      return execFileSync('ss', ['-ltnpH', `sport = :${SEED_PORT}`], { encoding: 'utf8' }).trim();
    } catch {
      return `(run \`ss -ltnp sport = :${SEED_PORT}\` to see who holds it)`;
    }
  };
  await waitFor(portIsFree, {
    what: () =>
      `port ${SEED_PORT} to be free: the seed config listens on 0.0.0.0:${SEED_PORT} as written and this test runs it unchanged. ` +
      `Holder: ${holder()}`,
    timeoutMs,
    intervalMs: 1_000,
  });
}

/** A deterministic multi-MB blob: compressible text, random bytes, and repeats of both (several dedup chunks, some shared). */
function makeBigBlob(): Buffer {
  const MIB = 1024 * 1024;
  const random = deterministicBytes(6 * MIB, 0x2545f491);
  const text = Buffer.from(
    Array.from({ length: 60_000 }, (_, i) => `line ${i}: the seed config stores each chunk once\n`).join(''),
  );
  const noise = random.subarray(0, 3 * MIB);
  return Buffer.concat([text, noise, random.subarray(3 * MIB, 5 * MIB), text, noise.subarray(0, MIB), random.subarray(5 * MIB)]);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readHashed(client: ReapiClient, digest: Digest): Promise<{ hash: string; bytes: number; messages: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let messages = 0;
  for await (const msg of client.readStream(blobName(INSTANCE, digest)) as AsyncIterable<{ data: Buffer }>) {
    hash.update(msg.data);
    bytes += msg.data.length;
    messages++;
  }
  return { hash: hash.digest('hex'), bytes, messages };
}

/** The standard AWS variables with s3rver's credentials, S3 at `endpoint`; the region stays the file's own. */
function seedEnv(stateDir: string, endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...s3DaemonEnv(stateDir), AWS_ENDPOINT_URL_S3: endpoint };
  delete env.AWS_REGION;
  return env;
}

function prefixOf(stores: CloudObjectStoreSpec[], hint: string): string {
  const found = stores.map((s) => s.key_prefix).find((p) => p.includes(hint));
  if (found === undefined) throw new Error(`the seed config has no S3 store whose key_prefix contains "${hint}"`);
  return found;
}

/** The one bucket the seed's S3 stores share (index, chunks and action results). */
function seedBucket(stores: CloudObjectStoreSpec[]): string {
  const buckets = [...new Set(stores.map((s) => s.bucket))];
  expect(buckets).toHaveLength(1);
  return buckets[0]!;
}

const names = (objects: { key: string }[], prefix: string) => new Set(objects.map((o) => o.key.slice(prefix.length)));

describe('the seed config file itself, unchanged, on 0.0.0.0:50051', () => {
  let releaseLock: (() => Promise<void>) | undefined;
  let s3: S3rverHandle | undefined;
  let proxy: FaultProxy | undefined;
  let dir: string | undefined;
  let daemon: DaemonProcess | undefined;
  let client: ReapiClient | undefined;
  let stores: CloudObjectStoreSpec[];
  /** CAS blobs the tests before the S3 check upload (the Execute test's Action and Command): the index lists them too. */
  const uploadedEarlier: Digest[] = [];

  beforeAll(async () => {
    releaseLock = await lockSeedPort(5 * 60_000);
    dir = await mkdtemp(join(tmpdir(), 'ncache-seed-verbatim-'));
    stores = await seedS3Stores();
    s3 = await startS3rver({ buckets: [seedBucket(stores)] });
    proxy = await FaultProxy.start(s3.endpoint);
    await waitForFreePort(60_000);
    daemon = await DaemonProcess.start({ configPath: SEED_CONFIG, env: seedEnv(join(dir, 'state'), proxy.endpoint) });
    client = createReapiClient(`127.0.0.1:${SEED_PORT}`);
  }, STEP_TIMEOUT);

  afterAll(async () => {
    client?.close();
    await daemon?.stop({ timeoutMs: 30_000 });
    await proxy?.close();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    await releaseLock?.();
  }, STEP_TIMEOUT);

  it("listens on port 50051; Health and Capabilities answer; Execute asks for a missing action and answers the scheduler's no-worker error", async () => {
    expect(daemon!.address, daemon!.stdout()).toMatch(new RegExp(`:${SEED_PORT}$`));
    expect((await client!.healthCheck('')).status).toBe(1); // SERVING
    const caps = await client!.getCapabilities(INSTANCE);
    expect(caps.cacheCapabilities?.digestFunctions).toContain(SHA256);
    expect(caps.cacheCapabilities?.actionCacheUpdateCapabilities?.updateEnabled).toBe(true);
    expect(caps.lowApiVersion?.major).toBe(2);
    expect(caps.executionCapabilities?.execEnabled).toBe(true);
    const absent = finalResponse(await client!.execute({ instanceName: INSTANCE, actionDigest: { hash: 'a'.repeat(64), sizeBytes: 1 } }));
    expect(absent.response.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(missingBlobsOf(absent.response.status!)).toEqual([{ hash: 'a'.repeat(64), sizeBytes: 1 }]);
    // Uploaded through verify, dedup and lz4 into S3; MAIN_SCHEDULER has no worker, so it fails after worker_timeout_s (5 s).
    const { actionDigest, commandDigest } = await uploadAction(client!, { args: ['true'], salt: `seed-${Date.now()}` }, INSTANCE);
    uploadedEarlier.push(actionDigest, commandDigest);
    const ops = await client!.execute({ instanceName: INSTANCE, actionDigest });
    expect(stagesOf(ops)).toEqual(['QUEUED', 'COMPLETED']);
    const { response } = finalResponse(ops);
    expect(response.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(response.status?.message).toMatch(/scheduler "MAIN_SCHEDULER" has no workers/);
  });

  it('a multi-chunk blob goes through verify, dedup and lz4 into S3 and back; an action result lands under the AC prefix', async () => {
    const blob = makeBigBlob().subarray(0, 4 * 1024 * 1024 + 99);
    const digest: Digest = { hash: sha256(blob), sizeBytes: blob.length };
    await client!.write(uploadName(INSTANCE, digest), blob);
    const back = await readHashed(client!, digest);
    expect(back).toMatchObject({ bytes: blob.length, hash: digest.hash });
    const action: Digest = { hash: sha256(Buffer.from('seed e2e action')), sizeBytes: 15 };
    const result = { exitCode: 0, outputFiles: [{ path: 'out/blob.bin', digest }] };
    await client!.updateActionResult({ instanceName: INSTANCE, actionDigest: action, actionResult: result });
    const got = await client!.getActionResult({ instanceName: INSTANCE, actionDigest: action });
    expect(got.outputFiles.map((f) => f.digest)).toEqual([digest]);

    const bucket = seedBucket(stores);
    const objects = bucketClient(s3!.endpoint);
    try {
      const index = await listObjects(objects, bucket, prefixOf(stores, 'index'));
      const chunks = await listObjects(objects, bucket, prefixOf(stores, 'dedup-cas'));
      const ac = await listObjects(objects, bucket, prefixOf(stores, 'ac'));
      // The earlier test's blobs may or may not have reached S3 yet; nothing else may be there.
      const indexed = names(index, prefixOf(stores, 'index'));
      expect(indexed).toContain(digestKey(digest));
      expect([...indexed].filter((key) => ![digest, ...uploadedEarlier].map(digestKey).includes(key))).toEqual([]);
      // 4 MiB with FastCDC's 512 KiB maximum is at least 8 chunks; the text part compresses.
      expect(chunks.length).toBeGreaterThanOrEqual(8);
      expect(chunks.reduce((sum, o) => sum + o.size, 0)).toBeLessThan(blob.length);
      expect([...names(ac, prefixOf(stores, 'ac'))]).toEqual([digestKey(action)]);
    } finally {
      objects.destroy();
    }
  });
});

/** A copy of the seed config in which only the listener's socket_address differs ("0.0.0.0:0"), checked line by line. */
async function portZeroCopy(dir: string): Promise<string> {
  const text = await readFile(SEED_CONFIG, 'utf8');
  const from = `socket_address: "0.0.0.0:${SEED_PORT}"`;
  expect(text.split(from)).toHaveLength(2);
  const copy = text.replace(from, 'socket_address: "0.0.0.0:0"');
  const before = text.split('\n');
  const after = copy.split('\n');
  expect(after).toHaveLength(before.length);
  expect(before.flatMap((line, i) => (line === after[i] ? [] : [[line.trim(), after[i]!.trim()]]))).toEqual([
    [`${from},`, 'socket_address: "0.0.0.0:0",'],
  ]);
  const path = join(dir, 'nativelink-s3-example.port-0.json5');
  await writeFile(path, copy);
  return path;
}

describe.skipIf(!bazel)('the seed config (only its port set to 0) with real Bazel: two daemons, one bucket', () => {
  let world: S3World;
  let wsB: BazelWorkspace | undefined;
  let dir: string;
  let configPath: string;
  let stores: CloudObjectStoreSpec[];
  let bucket: string;
  const daemons: DaemonProcess[] = [];
  const clients: ReapiClient[] = [];
  let cold: BazelRun;
  const big = makeBigBlob();
  const bigDigest: Digest = { hash: sha256(big), sizeBytes: big.length };

  /** `ncache serve` on the copy with its own state dir (catalog), S3 at the proxy. */
  async function serveSeed(name: string): Promise<DaemonProcess> {
    const stateDir = join(dir, name, 'state');
    await mkdir(stateDir, { recursive: true });
    const daemon = await DaemonProcess.start({ configPath, env: seedEnv(stateDir, world.proxy.endpoint) });
    daemons.push(daemon);
    return daemon;
  }

  // The listener is 0.0.0.0:PORT; clients (Bazel too) reach it through loopback.
  const port = (daemon: DaemonProcess): string => /:(\d+)$/.exec(daemon.address)![1]!;
  const bazelFlags = (daemon: DaemonProcess) => [
    `--remote_cache=grpc://127.0.0.1:${port(daemon)}`,
    `--remote_instance_name=${INSTANCE}`,
    '//...',
  ];
  const connect = (daemon: DaemonProcess): ReapiClient => {
    const client = createReapiClient(`127.0.0.1:${port(daemon)}`);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ncache-seed-e2e-'));
    configPath = await portZeroCopy(dir);
    stores = await seedS3Stores();
    bucket = seedBucket(stores);
    world = await S3World.start(bucket);
  }, STEP_TIMEOUT);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const d of daemons) await d.stop({ timeoutMs: 30_000 });
    await wsB?.cleanup();
    await world?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, STEP_TIMEOUT);

  it(
    'cold Bazel build and a 13 MB ByteStream upload through laptop A land in S3 under index/, dedup-cas/ and ac/',
    async () => {
      const a = await serveSeed('a');
      expect(a.address, a.stdout()).toMatch(/^0\.0\.0\.0:\d+$/);
      cold = await world.ws.run('test', bazelFlags(a), { executionLog: true });
      expect(cold.summary, describeRun(cold)).toBeDefined();
      expect(cold.summary!.remoteCacheHits, describeRun(cold)).toBe(0);
      expect(cold.summary!.executed, describeRun(cold)).toBe(cacheable(cold.spawns!).length);
      expect(cold.stdout + cold.stderr).toMatch(/\/\/:outputs_test\s+PASSED/);

      const client = connect(a);
      const written = await client.write(uploadName(INSTANCE, bigDigest), big, { chunkSize: 64 * 1024 });
      expect(written.committedSize).toBe(big.length);
      const missing = await client.findMissingBlobs({ instanceName: INSTANCE, blobDigests: [bigDigest] });
      expect(missing.missingBlobDigests).toEqual([]);

      // The seed's fast_slow tiers write S3 synchronously; a graceful stop must still exit 0.
      client.close();
      const stopped = await a.stop({ timeoutMs: 60_000 });
      expect(stopped, a.stderr()).toEqual({ code: 0, signal: null, forced: false });

      const s3 = bucketClient(world.s3.endpoint);
      try {
        const [index, chunks, ac] = await Promise.all(
          ['index', 'dedup-cas', 'ac'].map((hint) => listObjects(s3, bucket, prefixOf(stores, hint))),
        );
        // Every non-empty output of the cold build has an index entry, and so does the big blob.
        const outputs = new Set(
          cold.spawns!
            .flatMap((s) => s.actualOutputs)
            .filter((o) => o.digest !== undefined && o.digest.sizeBytes !== '0')
            .map((o) => `${o.digest!.hash}-${o.digest!.sizeBytes}`),
        );
        const indexNames = names(index!, prefixOf(stores, 'index'));
        expect([...outputs].filter((n) => !indexNames.has(n))).toEqual([]);
        expect(indexNames.has(digestKey(bigDigest))).toBe(true);
        // Index entries are small chunk lists, not the blobs themselves.
        const bigIndex = index!.find((o) => o.key.endsWith(digestKey(bigDigest)))!;
        expect(bigIndex.size).toBeLessThan(64 * 1024);
        // The 8 MiB fixture output and the 13 MB blob are many chunks.
        expect(chunks!.length).toBeGreaterThan(20);
        // Chunks are stored compressed: the compressible ones take fewer bytes than their names say.
        const chunkLogical = chunks!.reduce((sum, o) => sum + Number(/-(\d+)$/.exec(o.key)?.[1] ?? NaN), 0);
        const chunkStored = chunks!.reduce((sum, o) => sum + o.size, 0);
        expect(chunkStored).toBeLessThan(chunkLogical);
        // One action result per cacheable action.
        expect(ac!.length).toBe(cacheable(cold.spawns!).length);
        console.log(
          `[seed e2e] S3 after A: ${index!.length} index entries, ${chunks!.length} chunks ` +
            `(${chunkLogical} bytes logical, ${chunkStored} stored), ${ac!.length} action results; ` +
            `requests ${JSON.stringify(world.proxy.counts())}`,
        );
      } finally {
        s3.destroy();
      }
    },
    STEP_TIMEOUT,
  );

  it(
    'laptop B (fresh process and catalog, empty memory tiers, fresh Bazel output base): every cacheable action is a remote cache hit',
    async () => {
      expect(cold, 'the cold build must have run').toBeDefined();
      const b = await serveSeed('b');
      wsB = await BazelWorkspace.create({ fixture: 'bazel-workspace' });
      world.proxy.resetCounts();
      const warm = await wsB.run('test', bazelFlags(b), { executionLog: true });
      expect(warm.summary, describeRun(warm)).toBeDefined();
      expect(warm.summary!.executed, describeRun(warm)).toBe(0);
      expect(warm.summary!.remoteCacheHits, describeRun(warm)).toBe(cacheable(cold.spawns!).length);
      expect(labels(cacheable(warm.spawns!))).toEqual(labels(cacheable(cold.spawns!)));
      expect(warm.spawns!.filter((s) => !s.remoteCacheHit).map((s) => `${s.mnemonic} ${s.progressMessage}`)).toEqual([]);
      expect(warm.stdout + warm.stderr).toMatch(/\/\/:outputs_test\s+\(cached\) PASSED/);
      const counts = world.proxy.counts();
      console.log(`[seed e2e] warm build through B: ${warm.summary!.line}; S3 requests ${JSON.stringify(counts)}`);
      // Served from the bucket (B's memory tiers started empty), and nothing written back.
      expect(counts.GetObject ?? 0).toBeGreaterThan(0);
      expect((counts.PutObject ?? 0) + (counts.CreateMultipartUpload ?? 0)).toBe(0);
    },
    STEP_TIMEOUT,
  );

  it(
    'the 13 MB blob uploaded to A reads back from B byte for byte, whole and ranged',
    async () => {
      expect(daemons).toHaveLength(2);
      const client = connect(daemons[1]!);
      const missing = await client.findMissingBlobs({ instanceName: INSTANCE, blobDigests: [bigDigest] });
      expect(missing.missingBlobDigests).toEqual([]);
      const whole = await readHashed(client, bigDigest);
      expect(whole.bytes).toBe(big.length);
      expect(whole.hash).toBe(bigDigest.hash);
      // A range across chunk boundaries, in the middle of the blob.
      const offset = 3 * 1024 * 1024 + 12_345;
      const limit = 2 * 1024 * 1024 + 777;
      const part = await client.read(blobName(INSTANCE, bigDigest), { offset, limit });
      expect(part.length).toBe(limit);
      expect(sha256(part)).toBe(sha256(big.subarray(offset, offset + limit)));
    },
    STEP_TIMEOUT,
  );
});
