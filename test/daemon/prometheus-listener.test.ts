// experimental_prometheus on a real daemon's gRPC listener: real grpc-js calls
// over loopback, then a real HTTP/1.1 scrape of the same port parsed by a
// Prometheus text-format parser. Counters move by exactly the calls made; the
// port keeps serving gRPC; other paths and methods are refused plainly; TLS
// and bearer tokens apply to the scrape as to the calls.
import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { newToken } from '../../src/daemon/auth/token-match.js';
import { digestOf } from '../../src/util/digest.js';
import { credentials } from '@grpc/grpc-js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { grpcError } from '../helpers/grpc-matchers.js';
import { Scrape, httpGet, scrape } from '../helpers/prometheus.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { issueCert, makeCa } from '../helpers/tls-certs.js';
import { type Fixture, type FixtureOptions, startFixture } from './fixture.js';

const cleanups = cleanupsAfterEach();

async function startWithMetrics(opts: FixtureOptions & { path?: string } = {}): Promise<Fixture & { url: string }> {
  const f = await startFixture({
    ...opts,
    edit: (config) => {
      config.servers[0]!.services.experimental_prometheus = { path: opts.path ?? '/metrics' };
      opts.edit?.(config);
    },
  });
  cleanups.push(() => f.stop());
  const scheme = f.config.servers[0]!.listener.http.tls ? 'https' : 'http';
  return Object.assign(f, { url: `${scheme}://${f.address}${opts.path ?? '/metrics'}` });
}

const method = (service: string, name: string, more: Record<string, string> = {}) => ({ service, method: name, ...more });

describe('experimental_prometheus on a gRPC listener', () => {
  it('counts exactly the gRPC calls made on the same port, by method, code, lookup result and latency', async () => {
    const f = await startWithMetrics();
    const before = await scrape(f.url);
    const present = Buffer.from('present blob');
    const presentDigest = await f.client.uploadBlob(present);
    const missing = digestOf(randomBytes(32));
    const N = 3;
    for (let i = 0; i < N; i++) {
      const res = await f.client.findMissingBlobs({ instanceName: '', blobDigests: [presentDigest, missing] });
      expect(res.missingBlobDigests).toHaveLength(1);
    }
    for (let i = 0; i < 2; i++) {
      await expect(f.client.getActionResult({ instanceName: '', actionDigest: missing })).rejects.toEqual(grpcError(status.NOT_FOUND));
    }
    const after = await scrape(f.url);
    const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

    expect(delta('ncache_requests_total', method('cas', 'FindMissingBlobs', { code: 'OK' }))).toBe(N);
    expect(delta('ncache_requests_total', method('cas', 'FindMissingBlobs'))).toBe(N);
    expect(delta('ncache_lookups_total', method('cas', 'FindMissingBlobs', { unit: 'blobs', result: 'hit' }))).toBe(N);
    expect(delta('ncache_lookups_total', method('cas', 'FindMissingBlobs', { unit: 'blobs', result: 'miss' }))).toBe(N);
    expect(delta('ncache_requests_total', method('ac', 'GetActionResult', { code: 'NOT_FOUND' }))).toBe(2);
    expect(delta('ncache_lookups_total', method('ac', 'GetActionResult', { result: 'miss' }))).toBe(2);
    expect(delta('ncache_requests_total', method('bytestream', 'Write', { code: 'OK' }))).toBe(1);
    expect(delta('ncache_request_bytes_total', method('bytestream', 'Write'))).toBeGreaterThan(present.length);
    expect(after.histogramCount('ncache_request_duration_seconds', method('cas', 'FindMissingBlobs')) - before.histogramCount('ncache_request_duration_seconds', method('cas', 'FindMissingBlobs'))).toBe(N);
    expect(after.value('ncache_requests_in_flight', method('cas', 'FindMissingBlobs'))).toBe(0);
    // The CAS store (memory) holds the one blob uploaded.
    expect(after.value('ncache_store_entries', { store: 'CAS', path: 'CAS', kind: 'memory' })).toBe(1);
    expect(after.value('ncache_store_size_bytes', { store: 'CAS', path: 'CAS' })).toBe(present.length);
    // prom-client's process metrics, on the daemon's own registry.
    expect(after.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    // A scrape is not a gRPC call: nothing of it is counted.
    expect(after.value('ncache_requests_total', { service: 'health' })).toBe(0);
  });

  it('answers GET and HEAD of its path in the text format, 404 elsewhere and 405 for other methods', async () => {
    const f = await startWithMetrics({ path: '/prom' });
    const get = await httpGet(f.url);
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(new Scrape(get.body).family('ncache_requests_total').type).toBe('COUNTER');
    const head = await httpGet(f.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const other = await httpGet(`http://${f.address}/metrics`);
    expect(other.status).toBe(404);
    expect(other.body).toContain('Prometheus metrics at /prom');
    const post = await httpGet(f.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    // The port still serves gRPC after HTTP/1.1 traffic.
    expect((await f.client.healthCheck('')).status).toBe(1);
  });

  it('tells HTTP/1.1 from HTTP/2 however the first bytes are split, and closes a connection that sends nothing for idle_timeout', async () => {
    const f = await startWithMetrics({ edit: (c) => (c.servers[0]!.listener.http.limits = { idle_timeout: 1 }) });
    const [host, port] = [f.address.slice(0, f.address.lastIndexOf(':')), Number(f.address.slice(f.address.lastIndexOf(':') + 1))];
    // "P" and "PR" could begin the HTTP/2 preface ("PRI * HTTP/2.0"): only the third byte of PROPFIND decides.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = netConnect({ host, port, noDelay: true }, () => {
        const request = 'PROPFIND /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
        socket.write(request.slice(0, 1));
        setImmediate(() => socket.write(request.slice(1, 2), () => socket.write(request.slice(2))));
      });
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    const closedAfterSilence = await new Promise<boolean>((resolve, reject) => {
      const socket = netConnect({ host, port });
      socket.on('close', () => resolve(true));
      socket.on('error', reject);
    });
    expect(closedAfterSilence).toBe(true);
    // A gRPC client whose preface arrives after a pause is still served.
    expect((await f.client.healthCheck('')).status).toBe(1);
  });

  it('closes a scrape connection after its answer, and stops with a gRPC stream and a scrape connection open', async () => {
    const f = await startWithMetrics();
    const port = Number(f.address.slice(f.address.lastIndexOf(':') + 1));
    // A keep-alive request (as Prometheus sends) still gets its connection closed after the answer.
    const answered = await new Promise<string>((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answered).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answered.toLowerCase()).toContain('\r\nconnection: close\r\n');

    const watch = f.client.healthWatch('');
    const ended = new Promise<void>((resolve) => {
      watch.on('error', () => resolve());
      watch.on('end', () => resolve());
    });
    await new Promise<void>((resolve) => watch.once('data', () => resolve()));
    // A scrape connection whose request has not been sent yet.
    const open = netConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => open.once('connect', () => resolve()));
    open.write('GET /met');
    const openClosed = new Promise<void>((resolve) => open.on('close', () => resolve()));
    await f.stop(500);
    await ended;
    await openClosed;
  });

  it('serves gRPC and the scrape over TLS on one port, choosing by ALPN', async () => {
    const dir = await tempDir('ncache-prom-tls-', cleanups);
    const ca = makeCa(dir, 'ca');
    const cert = issueCert(ca, 'server', 'server');
    const f = await startWithMetrics({ edit: (c) => (c.servers[0]!.listener.http.tls = { cert_file: cert.cert, key_file: cert.key }) });
    const caPem = readFileSync(ca.cert);
    const grpc = new ReapiClient(f.address, { 'grpc.ssl_target_name_override': 'localhost' }, credentials.createSsl(caPem));
    cleanups.push(() => grpc.close());
    const data = randomBytes(50_000);
    const digest = await grpc.uploadBlob(data);
    expect((await grpc.downloadBlob(digest)).equals(data)).toBe(true);
    const scraped = await scrape(f.url, { ca: caPem });
    expect(scraped.value('ncache_requests_total', method('bytestream', 'Read', { code: 'OK' }))).toBe(1);
    // A client offering both protocols (curl, Prometheus) is given HTTP/1.1.
    const alpn = await new Promise<string | false>((resolve, reject) => {
      const [host, port] = [f.address.slice(0, f.address.lastIndexOf(':')), Number(f.address.slice(f.address.lastIndexOf(':') + 1))];
      const socket = tlsConnect({ host, port, ca: caPem, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] }, () => {
        resolve(socket.alpnProtocol ?? false);
        socket.end();
      });
      socket.on('error', reject);
    });
    expect(alpn).toBe('http/1.1');
    // Plain HTTP on a TLS port is a failed handshake, not an answer.
    await expect(httpGet(`http://${f.address}/metrics`)).rejects.toThrow();
  });

  it('asks for a bearer token on a listener with auth, and takes a read token', async () => {
    const dir = await tempDir('ncache-prom-auth-', cleanups);
    const tokensFile = join(dir, 'tokens');
    const readToken = newToken();
    await writeFile(tokensFile, `${newToken()}\n${readToken} read\n`, { mode: 0o600 });
    const f = await startWithMetrics({ edit: (c) => (c.servers[0]!.listener.http.auth = { tokens_file: tokensFile, allow_unauthenticated_reads: false }) });
    const anonymous = await httpGet(f.url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toContain('Bearer');
    expect(anonymous.body).toContain(`scrape_config`);
    const wrong = await httpGet(f.url, { headers: { authorization: `Bearer ${newToken()}` } });
    expect(wrong.status).toBe(401);
    const reader = await httpGet(f.url, { headers: { authorization: `Bearer ${readToken}` } });
    expect(reader.status).toBe(200);
    expect(new Scrape(reader.body).family('ncache_requests_total').type).toBe('COUNTER');
  });
});
