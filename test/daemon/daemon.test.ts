import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { STORE_KINDS } from '../../src/config/schema-stores.js';
import type { NcacheConfig, StoreKind } from '../../src/config/types.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { digestOf } from '../../src/util/digest.js';
import { ReapiClient, blobName, openPartialUpload, uploadName } from '../helpers/grpc-client.js';
import { fixtureConfig } from './fixture.js';
import { cleanupsAfterEach, tempDir as makeTempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();

const tempDir = () => makeTempDir('ncache-daemon-', cleanups);

function listen(port = 0): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const closeNet = (s: NetServer) => new Promise<void>((resolve) => s.close(() => resolve()));

async function start(config: NcacheConfig, dir: string): Promise<RunningDaemon> {
  const daemon = await startDaemon({ config, stateDir: join(dir, 'state') });
  cleanups.push(() => daemon.stop({ graceMs: 1000 }));
  return daemon;
}

function client(address: string): ReapiClient {
  const c = new ReapiClient(address);
  cleanups.push(async () => c.close());
  return c;
}

describe('startDaemon', () => {
  it('reports the real port of each server and serves only the services each lists', async () => {
    const dir = await tempDir();
    const config = fixtureConfig(dir);
    const cacheOnly = structuredClone(config.servers[0]!);
    cacheOnly.name = 'health-only';
    cacheOnly.services = { health: {} };
    config.servers.push(cacheOnly);
    const daemon = await start(config, dir);
    expect(daemon.addresses).toHaveLength(2);
    for (const a of daemon.addresses) expect(a).toMatch(/^127\.0\.0\.1:[1-9][0-9]*$/);
    expect(daemon.addresses[0]).not.toBe(daemon.addresses[1]);

    const full = client(daemon.addresses[0]!);
    expect((await full.getCapabilities('')).cacheCapabilities).not.toBeNull();
    const healthOnly = client(daemon.addresses[1]!);
    expect((await healthOnly.healthCheck('')).status).toBe(1);
    await expect(healthOnly.healthCheck('build.bazel.remote.execution.v2.ContentAddressableStorage')).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await expect(healthOnly.getCapabilities('')).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
  });

  it('fails clearly when a port is taken, leaving no listener behind', async () => {
    const dir = await tempDir();
    const taken = await listen();
    cleanups.push(() => closeNet(taken));
    const free = await listen();
    const freePort = (free.address() as AddressInfo).port;
    await closeNet(free);

    const config = fixtureConfig(dir);
    config.servers[0]!.listener.http.socket_address = `127.0.0.1:${freePort}`;
    const second = structuredClone(config.servers[0]!);
    second.name = 'second';
    second.listener.http.socket_address = `127.0.0.1:${(taken.address() as AddressInfo).port}`;
    config.servers.push(second);

    await expect(startDaemon({ config, stateDir: join(dir, 'state') })).rejects.toThrow(
      /servers\[1\] \("second"\)\.listener\.http\.socket_address: cannot listen on 127\.0\.0\.1:\d+: the address is already in use/,
    );
    // The first server, which did bind, was shut down again.
    const again = await listen(freePort);
    await closeNet(again);
  });

  it('starts a config that uses every store kind the schema knows, and builds a driver of each kind', async () => {
    const dir = await tempDir();
    const memory = { memory: {} };
    // A Record over StoreKind: a kind added to the config types without an example here does not compile.
    const exampleOf: Record<StoreKind, Record<string, unknown>> = {
      memory,
      filesystem: { filesystem: { content_path: join(dir, 'fs', 'content'), temp_path: join(dir, 'fs', 'tmp') } },
      fast_slow: { fast_slow: { fast: memory, slow: memory } },
      verify: { verify: { backend: memory, verify_size: true, verify_hash: true } },
      noop: { noop: {} },
      size_partitioning: { size_partitioning: { size: 1000, lower_store: memory, upper_store: memory } },
      completeness_checking: { completeness_checking: { backend: memory, cas_store: memory } },
      existence_cache: { existence_cache: { backend: memory } },
      ref_store: { ref_store: { name: 'memory' } },
      shard: { shard: { stores: [{ store: memory, weight: 1 }] } },
      dedup: { dedup: { index_store: memory, content_store: memory } },
      compression: { compression: { compression_algorithm: { lz4: {} }, backend: memory } },
      experimental_cloud_object_store: {
        experimental_cloud_object_store: {
          provider: 'aws',
          region: 'us-east-1',
          bucket: 'never-contacted',
          endpoint: 'http://127.0.0.1:9',
          force_path_style: true,
        },
      },
      // Never contacted at start: a grpc store connects on its first call.
      grpc: { grpc: { store_type: 'cas', endpoints: [{ address: 'grpc://127.0.0.1:9' }] } },
    };
    const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    // One top-level store per kind the schema reads, named after its kind.
    const configText = JSON.stringify({
      stores: STORE_KINDS.map((kind) => ({ name: kind, ...exampleOf[kind] })),
      servers: [{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { health: {} } }],
    });
    const config = parseConfigText(configText, join(dir, 'config.json5'), env);
    const daemon = await startDaemon({ config, stateDir: join(dir, 'state'), env });
    cleanups.push(() => daemon.stop({ graceMs: 0 }));

    expect(daemon.stores.names().sort()).toEqual([...STORE_KINDS].sort());
    for (const kind of STORE_KINDS) {
      expect(daemon.stores.get(kind).kind, `the driver built for the store named ${kind}`).toBe(kind);
    }
    await daemon.stop();
  });
});

describe('RunningDaemon.stop', () => {
  it('lets an in-flight upload finish, and the filesystem store keeps it across a restart', async () => {
    const dir = await tempDir();
    const config = fixtureConfig(dir, { storeKind: 'filesystem' });
    const daemon = await startDaemon({ config, stateDir: join(dir, 'state') });
    const c = new ReapiClient(daemon.addresses[0]!);
    const data = randomBytes(3 * 1024 * 1024);
    const d = digestOf(data);
    const name = uploadName('', d);
    // The server holds the upload's first MiB; then ask it to stop while the upload is open.
    const h = await openPartialUpload(c, name, data);
    const stopping = daemon.stop({ graceMs: 20_000 });
    await h.send({ writeOffset: 1024 * 1024, data: data.subarray(1024 * 1024), finishWrite: true });
    h.end();
    expect((await h.response).committedSize).toBe(data.length);
    await stopping;
    c.close();

    const restarted = await start(config, dir);
    const c2 = client(restarted.addresses[0]!);
    expect((await c2.read(blobName('', d))).equals(data)).toBe(true);
  });

  it('aborts an abandoned partial upload on stop, committing nothing', async () => {
    const dir = await tempDir();
    const config = fixtureConfig(dir, { storeKind: 'filesystem', resumeTimeoutSeconds: 3600 });
    const daemon = await startDaemon({ config, stateDir: join(dir, 'state') });
    const c = new ReapiClient(daemon.addresses[0]!);
    const data = randomBytes(2 * 1024 * 1024);
    const d = digestOf(data);
    const name = uploadName('', d);
    const h = await openPartialUpload(c, name, data);
    h.cancel();
    await h.response.catch(() => {});
    c.close();
    await daemon.stop({ graceMs: 5000 });
    expect(await readdir(join(dir, 'cas', 'tmp'))).toEqual([]);

    const restarted = await start(config, dir);
    const c2 = client(restarted.addresses[0]!);
    expect((await c2.findMissingBlobs({ blobDigests: [d] })).missingBlobDigests).toEqual([d]);
  });

  it('is idempotent', async () => {
    const dir = await tempDir();
    const daemon = await startDaemon({ config: fixtureConfig(dir) });
    const c = client(daemon.addresses[0]!);
    expect((await c.healthCheck('')).status).toBe(1);
    // Concurrent callers share one shutdown; a later call finds it done.
    const [first, second] = [daemon.stop(), daemon.stop()];
    expect(second).toBe(first);
    await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined]);
    await expect(daemon.stop()).resolves.toBeUndefined();
    // And the daemon did stop: nothing answers on its address any more.
    await expect(c.healthCheck('')).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});
