// The http_cache listener (Bazel's HTTP/1.1 cache protocol) of a real
// daemon, in process, over filesystem stores shared with its gRPC listener,
// driven by node's http client and raw sockets for the bad input.
import { createHash } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NcacheConfig } from '../../src/config/types.js';
import { ActionResultCodec, type ActionResult, type MessageInit, TreeCodec } from '../../src/proto/reapi.js';
import { hasOne } from '../../src/stores/store.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { deterministicBytes } from '../helpers/data.js';
import { HttpCacheClient, rawRequest } from '../helpers/http-cache-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { type Fixture, type FixtureOptions, startFixture } from './fixture.js';

const MAX_UPLOAD = 1024 * 1024;

interface HttpFixture {
  readonly fx: Fixture;
  readonly http: HttpCacheClient;
  /** "/<instance>" or "" */
  readonly prefix: string;
}

let open: HttpFixture | undefined;
afterEach(async () => {
  open?.http.close();
  await open?.fx.stop();
  open = undefined;
});

/** A daemon with a gRPC listener (servers[0]) and an http_cache one (servers[1]) over the same CAS and AC. */
async function start(opts: FixtureOptions & { verifyCas?: boolean } = {}): Promise<HttpFixture> {
  const instance = opts.instanceName ?? '';
  const fx = await startFixture({
    storeKind: 'filesystem',
    ...opts,
    edit: (config: NcacheConfig) => {
      if (opts.verifyCas) {
        const cas = config.stores[0]!;
        cas.spec = { kind: 'verify', verify_size: true, verify_hash: true, backend: cas.spec };
      }
      config.servers.push({
        name: 'http',
        listener: { http: { socket_address: '127.0.0.1:0', limits: { max_upload_size: MAX_UPLOAD } }, protocol: 'http_cache' },
        services: {
          cas: [{ instance_name: instance, cas_store: 'CAS' }],
          ac: [{ instance_name: instance, ac_store: 'AC', read_only: false }],
        },
      });
      opts.edit?.(config);
    },
  });
  open = { fx, http: new HttpCacheClient(fx.daemon.addresses[1]!), prefix: instance === '' ? '' : `/${instance}` };
  return open;
}

const casStore = (fx: Fixture) => fx.daemon.stores.get('CAS');

/** Temp files the CAS has not committed (an upload in progress or left behind). */
const casTempFiles = (fx: Fixture) => readdir(join(fx.dir, 'cas', 'tmp'));

function resultNaming(outputs: Digest[]): MessageInit<ActionResult> {
  return { outputFiles: outputs.map((digest, i) => ({ path: `out/${i}`, digest })), exitCode: 0 };
}

describe('http_cache listener: CAS', () => {
  it('stores a PUT blob where the gRPC services see it, and serves it back by GET and HEAD over one kept-alive connection', async () => {
    const { fx, http } = await start();
    const data = deterministicBytes(300_000, 1);
    const digest = digestOf(data);

    const put = await http.send('PUT', `/cas/${digest.hash}`, { body: data });
    expect(put.status).toBe(200);
    const missing = await fx.client.findMissingBlobs({ blobDigests: [digest] });
    expect(missing.missingBlobDigests).toEqual([]);

    const get = await http.send('GET', `/cas/${digest.hash}`);
    expect(get.status).toBe(200);
    expect(get.headers['content-length']).toBe(String(data.length));
    expect(get.body.equals(data)).toBe(true);
    expect(get.reusedSocket).toBe(true);

    const head = await http.send('HEAD', `/cas/${digest.hash}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(data.length));
    expect(head.body.length).toBe(0);

    // The size comes from what the listener learned; nothing else was ever uploaded under this hash.
    const unknown = createHash('sha256').update('never uploaded').digest('hex');
    expect((await http.send('GET', `/cas/${unknown}`)).status).toBe(404);
    expect((await http.send('HEAD', `/cas/${unknown}`)).status).toBe(404);

    const stats = fx.daemon.metrics.snapshot().services['http_cache'];
    expect(stats?.methods['PUT cas']?.requests).toBe(1);
    expect(stats?.methods['GET cas']).toMatchObject({ requests: 2, hits: 1, misses: 1, bytesOut: data.length, errors: { NOT_FOUND: 1 } });
    expect(stats?.methods['HEAD cas']).toMatchObject({ hits: 1, misses: 1 });
  });

  it('serves the empty blob without an upload', async () => {
    const { http } = await start();
    const empty = digestOf(Buffer.alloc(0));
    const get = await http.send('GET', `/cas/${empty.hash}`);
    expect([get.status, get.body.length]).toEqual([200, 0]);
  });

  it.each([false, true])('rejects a body that does not hash to its name and stores nothing (CAS behind verify: %s)', async (verifyCas) => {
    const { fx, http } = await start({ verifyCas });
    const data = deterministicBytes(100_000, 2);
    const claimed = digestOf(deterministicBytes(100_000, 3));
    const put = await http.send('PUT', `/cas/${claimed.hash}`, { body: data });
    expect(put.status).toBe(400);
    expect(put.body.toString()).toContain(claimed.hash);
    expect(await hasOne(casStore(fx), claimed)).toBeUndefined();
    expect(await hasOne(casStore(fx), digestOf(data))).toBeUndefined();
    expect((await http.send('GET', `/cas/${claimed.hash}`)).status).toBe(404);
    expect(await casTempFiles(fx)).toEqual([]);
  });

  it('checks the body of a blob it already has, and keeps the connection usable', async () => {
    const { http } = await start();
    const data = deterministicBytes(50_000, 4);
    const { hash } = digestOf(data);
    expect((await http.send('PUT', `/cas/${hash}`, { body: data })).status).toBe(200);
    // Again, asking to continue first (the go-ahead comes, the body is read and checked).
    expect((await http.send('PUT', `/cas/${hash}`, { headers: { expect: '100-continue' }, body: data })).status).toBe(200);
    const wrong = Buffer.from(data);
    wrong[0] = wrong[0]! ^ 1;
    expect((await http.send('PUT', `/cas/${hash}`, { body: wrong })).status).toBe(400);
    const get = await http.send('GET', `/cas/${hash}`);
    expect(get.body.equals(data)).toBe(true);
    expect(get.reusedSocket).toBe(true);
  });

  it('stores nothing when the client closes before the body is whole', async () => {
    const { fx } = await start();
    const data = deterministicBytes(200_000, 5);
    const digest = digestOf(data);
    const head = `PUT /cas/${digest.hash} HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`;
    await rawRequest(fx.daemon.addresses[1]!, head, { body: data.subarray(0, 120_000), end: true });
    // The upload is dropped once the daemon sees the connection gone: its temp file goes with it.
    await waitFor(async () => (await casTempFiles(fx)).length === 0 && fx.daemon.metrics.snapshot().services['http_cache']?.methods['PUT cas']?.errorCount === 1, {
      what: 'the cut upload to be dropped',
    });
    expect(await hasOne(casStore(fx), digest)).toBeUndefined();
  });

  it('drops an upload that stalls for upload_stall_timeout, and stores nothing', async () => {
    const { fx } = await start({ edit: (c) => (c.servers[1]!.listener.http.limits = { upload_stall_timeout: 0.3 }) });
    const data = deterministicBytes(100_000, 12);
    const digest = digestOf(data);
    const head = `PUT /cas/${digest.hash} HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`;
    // Half the body, then silence with the connection open: the listener is the one to close it.
    const answer = await rawRequest(fx.daemon.addresses[1]!, head, { body: data.subarray(0, 50_000), end: false });
    expect(answer).toBe('');
    await waitFor(async () => (await casTempFiles(fx)).length === 0, { what: 'the stalled upload to be dropped' });
    expect(await hasOne(casStore(fx), digest)).toBeUndefined();
  });

  it('refuses a Content-Length over max_upload_size with 413 before reading the body, and a PUT without one with 411', async () => {
    const { fx, http } = await start();
    const hash = 'a'.repeat(64);
    // Headers only: the answer arrives although no byte of the 5 GB body was sent.
    const answer = await rawRequest(fx.daemon.addresses[1]!, `PUT /cas/${hash} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n`, { end: false });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('max_upload_size');
    expect(answer.toLowerCase()).toContain('connection: close');

    // With Expect: 100-continue the refusal comes instead of the go-ahead.
    const expecting = await rawRequest(fx.daemon.addresses[1]!, `PUT /cas/${hash} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000000000\r\n\r\n`, { end: false });
    expect(expecting).toMatch(/^HTTP\/1\.1 413 /);

    const chunked = await http.send('PUT', `/cas/${hash}`, { headers: { 'transfer-encoding': 'chunked' }, body: (async function* () { yield Buffer.from('abc'); })() });
    expect(chunked.status).toBe(411);
    expect(await casTempFiles(fx)).toEqual([]);
  });

  it.each([
    ['a path with ..', `/cas/../ac/${'a'.repeat(64)}`, '".." segment'],
    ['a non-hex hash', `/cas/${'g'.repeat(64)}`, 'not a SHA-256 hash'],
    ['a hash of the wrong length', `/cas/${'a'.repeat(63)}`, 'got 63 characters'],
    ['an upper-case hash', `/cas/${'A'.repeat(64)}`, 'not a SHA-256 hash'],
    ['neither ac nor cas', `/blobs/${'a'.repeat(64)}`, 'names neither ac nor cas'],
    ['an empty segment', `//cas/${'a'.repeat(64)}`, 'empty segment'],
  ])('answers 400 naming the path for %s', async (_what, path, why) => {
    const { fx } = await start();
    const answer = await rawRequest(fx.daemon.addresses[1]!, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { end: true });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain(JSON.stringify(path));
    expect(answer).toContain(why);
  });

  it('answers 405 with Allow for a method other than GET, PUT and HEAD', async () => {
    const { http } = await start();
    for (const method of ['DELETE', 'POST']) {
      const answer = await http.send(method, `/cas/${'a'.repeat(64)}`);
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe('GET, HEAD, PUT');
    }
  });

  it('serves byte ranges with 206 and refuses an unsatisfiable one with 416', async () => {
    const { http } = await start();
    const data = deterministicBytes(10_000, 6);
    const { hash } = digestOf(data);
    await http.send('PUT', `/cas/${hash}`, { body: data });
    const range = async (spec: string) => http.send('GET', `/cas/${hash}`, { headers: { range: spec } });

    const middle = await range('bytes=100-199');
    expect(middle.status).toBe(206);
    expect(middle.headers['content-range']).toBe('bytes 100-199/10000');
    expect(middle.body.equals(data.subarray(100, 200))).toBe(true);
    expect((await range('bytes=9990-')).body.equals(data.subarray(9990))).toBe(true);
    expect((await range('bytes=-10')).body.equals(data.subarray(9990))).toBe(true);
    expect((await range('bytes=9000-20000')).headers['content-range']).toBe('bytes 9000-9999/10000');

    const outside = await range('bytes=10000-');
    expect(outside.status).toBe(416);
    expect(outside.headers['content-range']).toBe('bytes */10000');
    expect((await range('bytes=abc')).status).toBe(400);
  });

  it('gives each of many concurrent GETs exactly its own bytes, whole or ranged, with others abandoned (reused read buffers)', async () => {
    const { fx, http } = await start();
    const blobs = [1, 1000, 65_536, 300_000, 1_048_576].map((size, i) => deterministicBytes(size, 40 + i));
    for (const data of blobs) expect((await http.send('PUT', `/cas/${digestOf(data).hash}`, { body: data })).status).toBe(200);
    const clients = Array.from({ length: 6 }, () => new HttpCacheClient(fx.daemon.addresses[1]!));
    try {
      for (let round = 0; round < 3; round++) {
        const gets: Promise<void>[] = [];
        blobs.forEach((data, i) => {
          const { hash } = digestOf(data);
          clients.forEach((client, k) => {
            const from = Math.floor((data.length * k) / 9);
            const ranged = k % 2 === 1;
            gets.push(
              client.send('GET', `/cas/${hash}`, ranged ? { headers: { range: `bytes=${from}-` } } : {}).then((answer) => {
                const want = ranged ? data.subarray(from) : data;
                expect(answer.body.equals(want), `blob ${i}, client ${k}: bytes differ`).toBe(true);
              }),
            );
          });
          if (data.length > 65_536) gets.push(rawRequest(fx.daemon.addresses[1]!, `GET /cas/${hash} HTTP/1.1\r\nHost: x\r\n\r\n`, { end: false }).then(() => {}));
        });
        await Promise.all(gets);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('keeps a reused read buffer untouched while a slow client leaves its bytes queued', async () => {
    // A large body read slowly: the socket's buffers fill and the daemon's
    // write waits in Node's queue, where an early reuse would show.
    const { fx, http } = await start({ edit: (c) => (c.servers[1]!.listener.http.limits = { max_upload_size: 64 << 20 }) });
    const blobs = [61, 62].map((seed) => deterministicBytes(12 << 20, seed));
    for (const data of blobs) expect((await http.send('PUT', `/cas/${digestOf(data).hash}`, { body: data })).status).toBe(200);
    const [host, port] = fx.daemon.addresses[1]!.split(':') as [string, string];
    const slowGet = (data: Buffer) =>
      new Promise<Buffer>((resolve, reject) => {
        const req = httpGet({ host, port: Number(port), path: `/cas/${digestOf(data).hash}` }, (res) => {
          res.pause();
          const parts: Buffer[] = [];
          setTimeout(() => {
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve(Buffer.concat(parts)));
            res.resume();
          }, 400);
        });
        req.on('error', reject);
      });
    // While the slow read waits on its queued write, a fast one takes buffers from the same pool.
    const slow = slowGet(blobs[0]!);
    await new Promise((r) => setTimeout(r, 100));
    const fast = await http.send('GET', `/cas/${digestOf(blobs[1]!).hash}`);
    expect(fast.body.equals(blobs[1]!), 'the fast read: bytes differ').toBe(true);
    expect((await slow).equals(blobs[0]!), 'the slow read: bytes differ').toBe(true);
  });

  it('serves the instance named by the path prefix, and names an unknown one', async () => {
    const { http } = await start({ instanceName: 'main/linux' });
    const data = deterministicBytes(1000, 7);
    const { hash } = digestOf(data);
    expect((await http.send('PUT', `/main/linux/cas/${hash}`, { body: data })).status).toBe(200);
    expect((await http.send('GET', `/main/linux/cas/${hash}`)).body.equals(data)).toBe(true);
    const other = await http.send('GET', `/other/cas/${hash}`);
    expect(other.status).toBe(400);
    expect(other.body.toString()).toContain('unknown instance name "other"');
    expect((await http.send('GET', `/cas/${hash}`)).body.toString()).toContain('unknown instance name ""');
  });

  it('streams a 64 MiB blob through without holding it', async () => {
    const { fx, http } = await start({ edit: (c) => (c.servers[1]!.listener.http.limits = { max_upload_size: 128 << 20 }) });
    const chunk = 1 << 20;
    const chunks = 64;
    const hash = createHash('sha256');
    for (let i = 0; i < chunks; i++) hash.update(deterministicBytes(chunk, 100 + i));
    const digest: Digest = { hash: hash.digest('hex'), sizeBytes: chunk * chunks };
    let sent = 0;
    // Half-way through, the blob is already on disk (a temp file growing), not in memory.
    let tempBytesMidway = 0;
    const body = (async function* () {
      for (let i = 0; i < chunks; i++) {
        if (i === chunks / 2) {
          tempBytesMidway = await waitFor(async () => {
            const names = await casTempFiles(fx);
            const { stat } = await import('node:fs/promises');
            const sizes = await Promise.all(names.map(async (n) => (await stat(join(fx.dir, 'cas', 'tmp', n))).size));
            const total = sizes.reduce((a, b) => a + b, 0);
            return total >= (sent * 3) / 4 ? total : undefined;
          }, { what: 'the first half of the upload to reach the temp file' });
        }
        const c = deterministicBytes(chunk, 100 + i);
        sent += c.length;
        yield c;
      }
    })();
    const put = await http.send('PUT', `/cas/${digest.hash}`, { headers: { 'content-length': digest.sizeBytes }, body });
    expect(put.status).toBe(200);
    expect(tempBytesMidway).toBeGreaterThan(0);
    expect(await hasOne(casStore(fx), digest)).toBe(digest.sizeBytes);
    const get = await http.send('GET', `/cas/${digest.hash}`);
    expect(get.status).toBe(200);
    expect(digestOf(get.body)).toEqual(digest);

    // A client that goes away after the first bytes: the read stops, and the listener serves on.
    const cut = await rawRequest(fx.daemon.addresses[1]!, `GET /cas/${digest.hash} HTTP/1.1\r\nHost: x\r\n\r\n`, { end: false });
    expect(cut).toMatch(/^HTTP\/1\.1 200 /);
    await waitFor(() => fx.daemon.metrics.snapshot().services['http_cache']?.methods['GET cas']?.errors['CANCELLED'] === 1, {
      what: 'the cut GET to be counted as cancelled',
    });
    expect((await http.send('HEAD', `/cas/${digest.hash}`)).headers['content-length']).toBe(String(digest.sizeBytes));
  });
});

describe('http_cache listener: action cache', () => {
  it('stores an encoded ActionResult and serves it back while its outputs are in the CAS', async () => {
    const { http } = await start();
    const output = deterministicBytes(2000, 8);
    const outputDigest = digestOf(output);
    await http.send('PUT', `/cas/${outputDigest.hash}`, { body: output });
    const actionHash = createHash('sha256').update('action 1').digest('hex');
    const encoded = ActionResultCodec.encode(resultNaming([outputDigest]));

    expect((await http.send('PUT', `/ac/${actionHash}`, { body: encoded })).status).toBe(200);
    const get = await http.send('GET', `/ac/${actionHash}`);
    expect(get.status).toBe(200);
    expect(ActionResultCodec.decode(get.body).outputFiles[0]?.digest).toEqual(outputDigest);
    const head = await http.send('HEAD', `/ac/${actionHash}`);
    expect([head.status, head.headers['content-length']]).toEqual([200, String(get.body.length)]);
  });

  it('answers 404 for a result whose output left the CAS, as GetActionResult does', async () => {
    const { http } = await start();
    const absent = digestOf(deterministicBytes(3000, 9));
    const actionHash = createHash('sha256').update('action 2').digest('hex');
    expect((await http.send('PUT', `/ac/${actionHash}`, { body: ActionResultCodec.encode(resultNaming([absent])) })).status).toBe(200);
    const get = await http.send('GET', `/ac/${actionHash}`);
    expect(get.status).toBe(404);
    expect((await http.send('HEAD', `/ac/${actionHash}`)).status).toBe(404);
  });

  it('learns output sizes from a result it serves, so a fresh daemon finds blobs uploaded over gRPC', async () => {
    const { fx, http } = await start();
    const output = deterministicBytes(5000, 10);
    const outputDigest = await fx.client.uploadBlob(output);
    const actionHash = createHash('sha256').update('action 3').digest('hex');
    expect((await http.send('GET', `/cas/${outputDigest.hash}`)).status).toBe(404);
    await http.send('PUT', `/ac/${actionHash}`, { body: ActionResultCodec.encode(resultNaming([outputDigest])) });
    expect((await http.send('GET', `/cas/${outputDigest.hash}`)).body.equals(output)).toBe(true);
  });

  it('learns the files of an output tree when the tree is read, as Bazel reads it before them', async () => {
    const { fx, http } = await start();
    const file = deterministicBytes(4000, 11);
    const fileDigest = await fx.client.uploadBlob(file);
    const tree = TreeCodec.encode({ root: { files: [{ name: 'f.bin', digest: fileDigest, isExecutable: false }] }, children: [] });
    const treeDigest = await fx.client.uploadBlob(tree);
    const actionHash = createHash('sha256').update('action 5').digest('hex');
    const result: MessageInit<ActionResult> = { outputDirectories: [{ path: 'out/dir', treeDigest }], exitCode: 0 };
    expect((await http.send('PUT', `/ac/${actionHash}`, { body: ActionResultCodec.encode(result) })).status).toBe(200);

    expect((await http.send('GET', `/cas/${fileDigest.hash}`)).status).toBe(404);
    expect((await http.send('GET', `/cas/${treeDigest.hash}`)).body.equals(tree)).toBe(true);
    expect((await http.send('GET', `/cas/${fileDigest.hash}`)).body.equals(file)).toBe(true);
  });

  it('refuses a body that is not an ActionResult, or one over the read-only action cache', async () => {
    const bad = await start();
    const actionHash = createHash('sha256').update('action 4').digest('hex');
    const garbage = await bad.http.send('PUT', `/ac/${actionHash}`, { body: Buffer.from([0xff, 0xff, 0xff, 0xff]) });
    expect(garbage.status).toBe(400);
    expect(garbage.body.toString()).toContain('not an encoded ActionResult');
    expect((await bad.http.send('GET', `/ac/${actionHash}`)).status).toBe(404);
    bad.http.close();
    await bad.fx.stop();
    open = undefined;

    const readOnly = await start({ edit: (c) => (c.servers[1]!.services.ac![0]!.read_only = true) });
    const refused = await readOnly.http.send('PUT', `/ac/${actionHash}`, { body: ActionResultCodec.encode(resultNaming([])) });
    expect(refused.status).toBe(403);
    expect(refused.body.toString()).toContain('read-only');
  });
});
