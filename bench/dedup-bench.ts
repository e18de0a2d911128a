// The dedup + compression section, on the deterministic corpus of corpus.ts:
// ten successive versions of a 64 MiB archive-like file (each a few small
// edits, insertions and a deletion away from the previous one) and a set of
// compressible build outputs.
//
// 1. The full seed stack: the reference config file (test/fixtures/configs/
//    nativelink-s3-example.json5) loaded unchanged, its stores built IN
//    PROCESS by StoreManager (the tree `ncache serve` builds; no gRPC, so the
//    numbers are the stores' own, the rpc section has the gRPC cost), S3 =
//    s3rver on this machine behind the counting proxy (AWS_ENDPOINT_URL_S3).
//    Per version: chunk bytes reused, S3 PUTs, write MB/s. Then bytes logical
//    vs stored per tier and per S3 prefix, the lz4 ratio, and reads: warm
//    (same process, memory tiers) and cold (a second "laptop": fresh stores
//    and catalog, empty memory tiers, everything from S3).
// 2. The same stack behind `ncache serve` over gRPC ByteStream (a copy of the
//    file whose only change is the listener's port, 0).
// 3. dedup + lz4 + filesystem (the laptop shape without S3), in process:
//    write and read MB/s per version.
//
// Versions are written to temp files first (hashed on the way) and streamed
// from there, so generating the corpus is not timed and no version is held
// in memory whole.
import { createHash } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Catalog } from '../src/catalog/catalog.js';
import { loadConfigFile, parseConfigText } from '../src/config/load.js';
import { walkSpecs } from '../src/config/store-tree.js';
import type { CloudObjectStoreSpec, NcacheConfig } from '../src/config/types.js';
import { StoreManager } from '../src/stores/factory.js';
import { loadStoreKinds } from '../src/stores/optional-kinds.js';
import type { ByteStream, StoreDriver } from '../src/stores/store.js';
import { type StatsOf, type StoreStats, isStatsOf } from '../src/stores/store-stats.js';
import { systemClock } from '../src/util/clock.js';
import type { Digest } from '../src/util/digest.js';
import { silentLogger } from '../src/util/logger.js';
import { fixturesDir } from '../test/helpers/bazel.js';
import { FaultProxy, type S3Operation } from '../test/helpers/fault-proxy.js';
import { bucketClient, listObjects } from '../test/helpers/s3-daemon.js';
import { s3rverEnv, startS3rver } from '../test/helpers/s3rver.js';
import { DaemonProcess } from '../test/helpers/daemon-process.js';
import { s3DaemonEnv } from '../test/helpers/s3-daemon.js';
import { ReapiClient } from './reapi-client.js';
import { ArchiveCorpus, buildOutputBytes, buildOutputs, DEFAULT_ARCHIVE, type BuildOutput } from './corpus.js';
import type { BenchSettings } from './env.js';
import { mb, mbPerSecond, seconds, table } from './format.js';

const MIB = 1024 * 1024;
/** MB, or kB for the small things (index entries) that would print as 0.0 MB. */
const size = (bytes: number): string => (bytes > 0 && bytes < 100_000 ? `${(bytes / 1e3).toFixed(1)} kB` : mb(bytes));
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const ratio = (x: number): string => `${x.toFixed(2)}×`;

interface VersionFile {
  version: number;
  path: string;
  digest: Digest;
}

type Print = (line: string) => void;

export async function runDedupBench(settings: BenchSettings, print: Print): Promise<void> {
  const opts = settings.dedup;
  print('\n## dedup + compression');
  const dir = await mkdtemp(join(tmpdir(), 'ncache-dedup-bench-'));
  try {
    const corpus = new ArchiveCorpus({ ...DEFAULT_ARCHIVE, baseBytes: opts.archiveMiB * MIB, versions: opts.versions });
    const kinds = corpus.kindBytes();
    const kindTotal = kinds.text + kinds.object + kinds.random;
    print(
      `corpus: ${opts.versions} versions of a ${mb(corpus.versionLength(1))} archive (${corpus.memberCount} members: ` +
        `${pct(kinds.text / kindTotal)} source-like text, ${pct(kinds.object / kindTotal)} object-like, ` +
        `${pct(kinds.random / kindTotal)} incompressible); each later version: ` +
        `${DEFAULT_ARCHIVE.edits} edits of 1-64 B, ${DEFAULT_ARCHIVE.insertions} insertions of 16 B-4 KiB, ` +
        `${DEFAULT_ARCHIVE.deletions} deletion of 16 B-2 KiB at random places`,
    );
    const outputs = buildOutputs(DEFAULT_ARCHIVE.seed, opts.outputsMiB * MIB);
    print(`build outputs: ${outputs.length} files, ${mb(outputs.reduce((s, o) => s + o.size, 0))} (half source-like text, half object-like)`);
    const started = performance.now();
    const versions: VersionFile[] = [];
    await mkdir(join(dir, 'corpus'));
    for (let v = 1; v <= opts.versions; v++) versions.push(await writeVersion(corpus, v, join(dir, 'corpus', `v${v}.tar`)));
    print(`(corpus generated in ${seconds(performance.now() - started)}, not timed below)`);

    if (opts.stacks.has('seed')) await seedStack(dir, versions, outputs, print);
    if (opts.stacks.has('daemon')) await seedDaemon(dir, versions, settings.writeChunkBytes, print);
    if (opts.stacks.has('local')) await localStack(dir, versions, outputs, print);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeVersion(corpus: ArchiveCorpus, v: number, path: string): Promise<VersionFile> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  let size = 0;
  for (const chunk of corpus.versionChunks(v)) {
    hash.update(chunk);
    size += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { version: v, path, digest: { hash: hash.digest('hex'), sizeBytes: size } };
}

const fileSource = (path: string): ByteStream => createReadStream(path, { highWaterMark: MIB }) as AsyncIterable<Buffer>;

async function* bufferSource(data: Buffer): ByteStream {
  for (let off = 0; off < data.length; off += MIB) yield data.subarray(off, off + MIB);
}

/** Reads a blob whole, hashing it (the check is part of the timed read: a reader has to consume the bytes anyway). */
async function readChecked(store: StoreDriver, digest: Digest, what: string): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of await store.getPart(digest, 0)) {
    hash.update(chunk);
    size += chunk.length;
  }
  if (size !== digest.sizeBytes || hash.digest('hex') !== digest.hash) {
    throw new Error(`dedup bench: ${what} read back wrong (${size} bytes, expected ${digest.sizeBytes} hashing to ${digest.hash})`);
  }
}

function digestOfBuffer(data: Buffer): Digest {
  return { hash: createHash('sha256').update(data).digest('hex'), sizeBytes: data.length };
}

/** Every store in a tree with a readable path ("dedup.index_store.fast_slow.fast") and its stats. */
function treeStats(root: StoreDriver): { path: string; stats: StoreStats | undefined }[] {
  const out: { path: string; stats: StoreStats | undefined }[] = [];
  const names: Record<string, string[]> = {
    dedup: ['index_store', 'content_store'],
    fast_slow: ['fast', 'slow'],
    compression: ['backend'],
    verify: ['backend'],
  };
  const visit = (store: StoreDriver, path: string) => {
    out.push({ path, stats: store.stats?.() });
    (store.children?.() ?? []).forEach((child, i) => visit(child, `${path}.${names[store.kind]?.[i] ?? String(i)}.${child.kind}`));
  };
  visit(root, root.kind);
  return out;
}

function findStats<K extends StoreStats['kind']>(root: StoreDriver, kind: K): StatsOf<K> | undefined {
  for (const { stats } of treeStats(root)) if (isStatsOf(stats, kind)) return stats;
  return undefined;
}

interface Stack {
  manager: StoreManager;
  catalog: Catalog;
  close(): Promise<void>;
}

async function openStack(config: NcacheConfig, stateDir: string, env: NodeJS.ProcessEnv): Promise<Stack> {
  await loadStoreKinds(config.stores.map((s) => s.spec));
  const catalog = Catalog.open(join(stateDir, 'catalog.sqlite'), { logger: silentLogger, clock: systemClock });
  const manager = new StoreManager(config.stores, { logger: silentLogger, clock: systemClock, catalog, env });
  await manager.start();
  return {
    manager,
    catalog,
    async close() {
      await manager.close();
      catalog.close();
    },
  };
}

/** PUT requests (single PutObject and multipart parts) by S3 key prefix, from the proxy's log. */
function putsByPrefix(proxy: FaultProxy, prefixes: string[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(prefixes.map((p) => [p, 0]));
  const puts: S3Operation[] = ['PutObject', 'UploadPart'];
  for (const r of proxy.requests) {
    if (!puts.includes(r.op)) continue;
    const key = decodeURIComponent(new URL(r.url, 'http://proxy').pathname.split('/').slice(2).join('/'));
    const prefix = prefixes.find((p) => key.startsWith(p));
    if (prefix !== undefined) out[prefix]! += 1;
  }
  return out;
}

async function seedStack(dir: string, versions: VersionFile[], outputs: BuildOutput[], print: Print): Promise<void> {
  const seedPath = join(fixturesDir(), 'configs', 'nativelink-s3-example.json5');
  print('');
  print(`### the full seed stack (${seedPath}, unchanged), in process through StoreManager, S3 = s3rver behind a counting proxy`);
  const probe = await loadConfigFile(seedPath, {});
  const s3Specs: CloudObjectStoreSpec[] = [];
  for (const named of probe.stores) {
    walkSpecs(named.spec, named.name, (spec) => {
      if (spec.kind === 'experimental_cloud_object_store') s3Specs.push(spec);
    });
  }
  const bucket = s3Specs[0]!.bucket;
  const prefixes = s3Specs.map((s) => s.key_prefix);
  // The seed's first store is its CAS; the bench writes only CAS blobs, so PUTs are counted for its prefixes.
  const casPrefixes: string[] = [];
  walkSpecs(probe.stores[0]!.spec, probe.stores[0]!.name, (spec) => {
    if (spec.kind === 'experimental_cloud_object_store') casPrefixes.push(spec.key_prefix);
  });
  const s3 = await startS3rver({ buckets: [bucket] });
  const proxy = await FaultProxy.start(s3.endpoint);
  // The config's region stays in effect (the spec's own wins over AWS_REGION).
  const env = s3rverEnv(proxy.endpoint);
  const config = await loadConfigFile(seedPath, env);
  const casName = config.stores[0]!.name;
  let a: Stack | undefined;
  let b: Stack | undefined;
  try {
    a = await openStack(config, join(dir, 'seed-a'), env);
    const cas = a.manager.get(casName);
    const rows: string[][] = [];
    // bytesWritten: chunk bytes this process's dedup store sent to its content store (new chunks);
    // counted as they happen (the catalog totals in stats() are cached for a moment).
    let lastChunkBytes = findStats(cas, 'dedup')?.bytesWritten ?? 0;
    const writeTimes: number[] = [];
    for (const v of versions) {
      proxy.resetCounts();
      const t = performance.now();
      await cas.update(v.digest, fileSource(v.path), v.digest.sizeBytes);
      const ms = performance.now() - t;
      writeTimes.push(ms);
      const chunkBytes = findStats(cas, 'dedup')?.bytesWritten;
      const fresh = chunkBytes === undefined ? undefined : chunkBytes - lastChunkBytes;
      lastChunkBytes = chunkBytes ?? lastChunkBytes;
      const puts = putsByPrefix(proxy, casPrefixes);
      rows.push([
        `v${v.version}`,
        mb(v.digest.sizeBytes),
        fresh === undefined ? 'n/a' : mb(fresh),
        fresh === undefined || v.version === 1 ? '-' : pct(1 - fresh / v.digest.sizeBytes),
        ...casPrefixes.map((p) => String(puts[p] ?? 0)),
        String(proxy.peakInFlight('PutObject')),
        mbPerSecond(v.digest.sizeBytes, ms),
      ]);
    }
    print('');
    print('Writing the versions (new chunk bytes = chunk bytes the dedup store had to write; S3 PUTs = PutObject + UploadPart):');
    print(table(['version', 'size', 'new chunk bytes', 'reused', ...casPrefixes.map((p) => `PUTs ${p}`), 'PUTs at once (peak)', 'write'], rows));
    const later = versions.slice(1);
    if (later.length > 0) {
      const laterBytes = later.reduce((s, v) => s + v.digest.sizeBytes, 0);
      const laterMs = writeTimes.slice(1).reduce((s, t) => s + t, 0);
      print(`v2..v${versions.length} together: ${mbPerSecond(laterBytes, laterMs)}; v1 (all chunks new): ${mbPerSecond(versions[0]!.digest.sizeBytes, writeTimes[0]!)}`);
    }

    proxy.resetCounts();
    const outputDigests: Digest[] = [];
    let outputMs = 0;
    let outputBytes = 0;
    for (const o of outputs) {
      const data = buildOutputBytes(o);
      const digest = digestOfBuffer(data);
      outputDigests.push(digest);
      const t = performance.now();
      await cas.update(digest, bufferSource(data), data.length);
      outputMs += performance.now() - t;
      outputBytes += data.length;
    }
    const outputPuts = putsByPrefix(proxy, casPrefixes);
    print(
      `build outputs: ${outputs.length} blobs, ${mb(outputBytes)}, written at ${mbPerSecond(outputBytes, outputMs)}; ` +
        `S3 PUTs ${casPrefixes.map((p) => `${p} ${outputPuts[p]}`).join(', ')}`,
    );

    // Bytes logical vs stored.
    const logical = versions.reduce((s, v) => s + v.digest.sizeBytes, 0) + outputBytes;
    print('');
    print(`Bytes: ${mb(logical)} logical (all versions + outputs)`);
    const tierRows: string[][] = [];
    for (const { path, stats } of treeStats(cas)) {
      if (stats?.kind === 'memory' || stats?.kind === 'filesystem') {
        tierRows.push([path, String(stats.count), size(stats.bytes), String(stats.evictions)]);
      }
    }
    print(table(['local tier (CAS)', 'entries', 'bytes', 'evictions'], tierRows));
    const client = bucketClient(s3.endpoint);
    const s3Rows: string[][] = [];
    let s3Total = 0;
    try {
      for (const prefix of prefixes) {
        const objects = await listObjects(client, bucket, prefix);
        const bytes = objects.reduce((s, o) => s + o.size, 0);
        s3Total += bytes;
        s3Rows.push([prefix, String(objects.length), size(bytes)]);
      }
    } finally {
      client.destroy();
    }
    s3Rows.push(['total', '', mb(s3Total)]);
    print(table(['S3 prefix', 'objects', 'bytes'], s3Rows));
    print(`logical / stored in S3: ${ratio(logical / s3Total)}`);
    const dedup = findStats(cas, 'dedup');
    const compression = findStats(cas, 'compression');
    print(`dedup store stats: ${JSON.stringify(dedup)}`);
    print(`compression store stats: ${JSON.stringify(compression)}`);
    const cLogical = compression?.logicalBytes;
    const cStored = compression?.storedBytes;
    if (cLogical !== undefined && cStored) print(`lz4 ratio on the chunks written: ${ratio(cLogical / cStored)} (${mb(cLogical)} -> ${mb(cStored)})`);

    // Reads: warm in A, then cold from S3 in a second "laptop".
    const last = versions[versions.length - 1]!;
    const readRows: string[][] = [];
    let t = performance.now();
    await readChecked(cas, last.digest, `v${last.version} (warm)`);
    readRows.push([`v${last.version}, same process (memory tiers as the writes left them)`, mbPerSecond(last.digest.sizeBytes, performance.now() - t), '-']);
    await a.close();
    a = undefined;

    b = await openStack(config, join(dir, 'seed-b'), env);
    const casB = b.manager.get(casName);
    for (const v of [versions[0]!, last]) {
      proxy.resetCounts();
      t = performance.now();
      await readChecked(casB, v.digest, `v${v.version} (cold)`);
      readRows.push([`v${v.version}, fresh stores + catalog, empty memory tiers`, mbPerSecond(v.digest.sizeBytes, performance.now() - t), String(proxy.count('GetObject'))]);
    }
    proxy.resetCounts();
    t = performance.now();
    for (const d of outputDigests) await readChecked(casB, d, 'build output (cold)');
    readRows.push([`build outputs, fresh stores (${outputDigests.length} blobs)`, mbPerSecond(outputBytes, performance.now() - t), String(proxy.count('GetObject'))]);
    print('');
    print('Reads (whole blob, SHA-256 checked while reading):');
    print(table(['read', 'rate', 'S3 GETs'], readRows));
  } finally {
    await a?.close();
    await b?.close();
    await proxy.close();
    await s3.stop();
  }
}

/**
 * The seed stack behind `ncache serve` (a child process), driven over gRPC
 * ByteStream the way Bazel drives it: the seed file with only its listener's
 * socket_address changed to 0.0.0.0:0 (50051 may be taken), S3 = s3rver.
 */
async function seedDaemon(dir: string, versions: VersionFile[], writeChunkBytes: number, print: Print): Promise<void> {
  const seedPath = join(fixturesDir(), 'configs', 'nativelink-s3-example.json5');
  print('');
  print(`### the full seed stack behind \`ncache serve\` (child process), over gRPC ByteStream, ${writeChunkBytes / 1024} KiB per WriteRequest`);
  const text = await readFile(seedPath, 'utf8');
  const listener = /socket_address: "0\.0\.0\.0:50051"/;
  if (!listener.test(text)) throw new Error(`${seedPath}: no socket_address "0.0.0.0:50051" to replace`);
  const configPath = join(dir, 'seed-port-0.json5');
  await writeFile(configPath, text.replace(listener, 'socket_address: "0.0.0.0:0"'));
  const probe = await loadConfigFile(configPath, {});
  const buckets: string[] = [];
  walkSpecs(probe.stores[0]!.spec, probe.stores[0]!.name, (spec) => {
    if (spec.kind === 'experimental_cloud_object_store') buckets.push(spec.bucket);
  });
  const s3 = await startS3rver({ buckets: [buckets[0]!] });
  let daemon: DaemonProcess | undefined;
  let client: ReapiClient | undefined;
  try {
    const env = { ...s3DaemonEnv(join(dir, 'daemon-state')), AWS_ENDPOINT_URL_S3: s3.endpoint, NCACHE_LOG_LEVEL: 'warn' };
    daemon = await DaemonProcess.start({ configPath, env });
    const port = /:(\d+)$/.exec(daemon.address)![1]!;
    client = new ReapiClient(`127.0.0.1:${port}`, 'main');
    const rows: string[][] = [];
    let later = { bytes: 0, ms: 0 };
    for (const v of versions) {
      const t = performance.now();
      const res = await client.write(v.digest, createReadStream(v.path, { highWaterMark: writeChunkBytes }) as AsyncIterable<Buffer>, randomUUID());
      const ms = performance.now() - t;
      if (res.committedSize !== v.digest.sizeBytes) throw new Error(`dedup bench: ByteStream write of v${v.version} committed ${res.committedSize} bytes`);
      if (v.version > 1) later = { bytes: later.bytes + v.digest.sizeBytes, ms: later.ms + ms };
      rows.push([`v${v.version}`, mbPerSecond(v.digest.sizeBytes, ms)]);
    }
    const last = versions[versions.length - 1]!;
    const hash = createHash('sha256');
    const t = performance.now();
    const got = await client.read(last.digest, (chunk) => hash.update(chunk));
    const readMs = performance.now() - t;
    if (got !== last.digest.sizeBytes || hash.digest('hex') !== last.digest.hash) throw new Error(`dedup bench: ByteStream read of v${last.version} came back wrong`);
    print(table(['version', 'write'], rows));
    if (later.ms > 0) print(`v2..v${versions.length} together: write ${mbPerSecond(later.bytes, later.ms)}`);
    print(`read v${last.version} (warm, SHA-256 checked): ${mbPerSecond(last.digest.sizeBytes, readMs)}`);
  } finally {
    client?.close();
    if (daemon) {
      const exit = await daemon.stop({ timeoutMs: 60_000 });
      if (exit.code !== 0) print(`WARNING: ncache serve exited with ${JSON.stringify(exit)}: ${daemon.stderr().slice(-2000)}`);
    }
    await s3.stop();
  }
}

/** dedup (index and chunks on the filesystem) + lz4, the laptop shape without S3. */
function localConfigText(dataDir: string): string {
  const fs = (name: string) => ({
    filesystem: {
      content_path: join(dataDir, name, 'content'),
      temp_path: join(dataDir, name, 'tmp'),
      eviction_policy: { max_bytes: '20gb' },
    },
  });
  return JSON.stringify({
    stores: [
      {
        name: 'CAS',
        dedup: {
          index_store: fs('index'),
          content_store: { compression: { compression_algorithm: { lz4: {} }, backend: fs('chunks') } },
        },
      },
    ],
    servers: [
      {
        listener: { http: { socket_address: '127.0.0.1:0' } },
        services: { cas: [{ instance_name: '', cas_store: 'CAS' }], bytestream: { cas_stores: { '': 'CAS' } } },
      },
    ],
  });
}

async function localStack(dir: string, versions: VersionFile[], outputs: BuildOutput[], print: Print): Promise<void> {
  print('');
  print('### dedup + lz4 + filesystem (index and chunks on local disk), in process through StoreManager');
  const dataDir = join(dir, 'local-data');
  const config = parseConfigText(localConfigText(dataDir), 'dedup bench (local)', {});
  const stack = await openStack(config, join(dir, 'local-state'), {});
  try {
    const cas = stack.manager.get('CAS');
    const rows: string[][] = [];
    let writeLater = { bytes: 0, ms: 0 };
    let readAll = { bytes: 0, ms: 0 };
    for (const v of versions) {
      let t = performance.now();
      await cas.update(v.digest, fileSource(v.path), v.digest.sizeBytes);
      const writeMs = performance.now() - t;
      t = performance.now();
      await readChecked(cas, v.digest, `v${v.version} (local)`);
      const readMs = performance.now() - t;
      if (v.version > 1) writeLater = { bytes: writeLater.bytes + v.digest.sizeBytes, ms: writeLater.ms + writeMs };
      readAll = { bytes: readAll.bytes + v.digest.sizeBytes, ms: readAll.ms + readMs };
      rows.push([`v${v.version}`, mb(v.digest.sizeBytes), mbPerSecond(v.digest.sizeBytes, writeMs), mbPerSecond(v.digest.sizeBytes, readMs)]);
    }
    print(table(['version', 'size', 'write', 'read'], rows));
    if (writeLater.ms > 0) print(`v2..v${versions.length}: write ${mbPerSecond(writeLater.bytes, writeLater.ms)} (aim ≥ 150 MB/s)`);
    print(`all versions: read ${mbPerSecond(readAll.bytes, readAll.ms)} (aim ≥ 250 MB/s)`);

    let outBytes = 0;
    let writeMs = 0;
    const digests: Digest[] = [];
    for (const o of outputs) {
      const data = buildOutputBytes(o);
      const digest = digestOfBuffer(data);
      digests.push(digest);
      const t = performance.now();
      await cas.update(digest, bufferSource(data), data.length);
      writeMs += performance.now() - t;
      outBytes += data.length;
    }
    const t = performance.now();
    for (const d of digests) await readChecked(cas, d, 'build output (local)');
    const readMs = performance.now() - t;
    print(`build outputs (${outputs.length} blobs, ${mb(outBytes)}): write ${mbPerSecond(outBytes, writeMs)}, read ${mbPerSecond(outBytes, readMs)}`);
    const tiers = treeStats(cas).flatMap(({ path, stats }) =>
      isStatsOf(stats, 'filesystem') ? [`${path} ${size(stats.bytes)} in ${stats.count} files`] : [],
    );
    const logical = versions.reduce((s, v) => s + v.digest.sizeBytes, 0) + outBytes;
    print(`bytes: ${mb(logical)} logical; on disk: ${tiers.join('; ')}`);
    const compression = findStats(cas, 'compression');
    const cLogical = compression?.logicalBytes;
    const cStored = compression?.storedBytes;
    if (cLogical !== undefined && cStored) print(`lz4 ratio on the chunks written: ${ratio(cLogical / cStored)}`);
  } finally {
    await stack.close();
  }
}
