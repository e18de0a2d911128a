// The http_cache listener with `auth` (bearer tokens, the gRPC listener's
// rules and tokens file) and with `tls` (HTTPS, client certificates under
// mTLS), on a real daemon called by node's http and https clients.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ListenerAuthSpec, ListenerTlsSpec } from '../../src/config/types.js';
import { newToken } from '../../src/daemon/auth/token-match.js';
import { digestOf } from '../../src/util/digest.js';
import { HttpCacheClient, rawRequest } from '../helpers/http-cache-client.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { type CertFiles, issueCert, makeCa } from '../helpers/tls-certs.js';
import { type Fixture, startFixture } from './fixture.js';

const cleanups = cleanupsAfterEach();
const WRITE_TOKEN = newToken();
const READ_TOKEN = newToken();

async function startHttpCache(listener: { auth?: ListenerAuthSpec; tls?: ListenerTlsSpec }): Promise<{ fx: Fixture; address: string }> {
  const fx = await startFixture({
    edit: (config) =>
      config.servers.push({
        name: 'http',
        listener: { http: { socket_address: '127.0.0.1:0', ...listener }, protocol: 'http_cache' },
        services: { cas: [{ instance_name: '', cas_store: 'CAS' }], ac: [{ instance_name: '', ac_store: 'AC', read_only: false }] },
      }),
  });
  cleanups.push(() => fx.stop());
  return { fx, address: fx.daemon.addresses[1]! };
}

const blob = Buffer.from('an output sent over HTTP');
const { hash } = digestOf(blob);

describe('http_cache listener with auth', () => {
  it('asks for a token (401), lets a read token read but not write (403), and a write token do both', async () => {
    const dir = await tempDir('ncache-http-auth-', cleanups);
    const tokensFile = join(dir, 'tokens');
    await writeFile(tokensFile, `${WRITE_TOKEN}\n${READ_TOKEN} read\n`, { mode: 0o600 });
    const { address } = await startHttpCache({ auth: { tokens_file: tokensFile, allow_unauthenticated_reads: false } });
    const http = new HttpCacheClient(address);
    cleanups.push(() => http.close());
    const as = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

    const anonymous = await http.send('GET', `/cas/${hash}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="ncache"');
    expect(anonymous.body.toString()).toMatch(/servers\[1\] \("http"\) on 127\.0\.0\.1:\d+ requires a bearer token: add --remote_header=authorization=Bearer/);

    const readerPut = await http.send('PUT', `/cas/${hash}`, { headers: as(READ_TOKEN), body: blob });
    expect(readerPut.status).toBe(403);
    expect(readerPut.body.toString()).toContain(`PUT /cas/${hash} writes`);
    expect(readerPut.body.toString()).not.toContain(READ_TOKEN);

    expect((await http.send('PUT', `/cas/${hash}`, { headers: as(WRITE_TOKEN), body: blob })).status).toBe(200);
    expect((await http.send('GET', `/cas/${hash}`, { headers: as(READ_TOKEN) })).body.equals(blob)).toBe(true);
    expect((await http.send('GET', `/cas/${hash}`, { headers: as('not-a-listed-token') })).status).toBe(401);
  });
});

describe('http_cache listener with tls', () => {
  function httpsGet(address: string, path: string, tls: { ca: string; client?: CertFiles }): Promise<{ status: number; body: Buffer }> {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host,
          port,
          path,
          method: 'GET',
          ca: readFileSync(tls.ca),
          ...(tls.client ? { cert: readFileSync(tls.client.cert), key: readFileSync(tls.client.key) } : {}),
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('serves HTTPS with the configured certificate, and refuses plain HTTP on that port', async () => {
    const dir = await tempDir('ncache-http-tls-', cleanups);
    const ca = makeCa(dir, 'ca');
    const server = issueCert(ca, 'server', 'server');
    const { address } = await startHttpCache({ tls: { cert_file: server.cert, key_file: server.key } });
    const empty = digestOf(Buffer.alloc(0)).hash;
    expect(await httpsGet(address, `/cas/${empty}`, { ca: ca.cert })).toEqual({ status: 200, body: Buffer.alloc(0) });
    const plain = await rawRequest(address, `GET /cas/${empty} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { end: true });
    expect(plain).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('with client_ca_file, accepts a client certificate that CA signed and refuses a client without one', async () => {
    const dir = await tempDir('ncache-http-mtls-', cleanups);
    const ca = makeCa(dir, 'ca');
    const server = issueCert(ca, 'server', 'server');
    const client = issueCert(ca, 'client', 'client');
    const { address } = await startHttpCache({ tls: { cert_file: server.cert, key_file: server.key, client_ca_file: ca.cert } });
    const path = `/cas/${digestOf(Buffer.alloc(0)).hash}`;
    expect((await httpsGet(address, path, { ca: ca.cert, client })).status).toBe(200);
    await expect(httpsGet(address, path, { ca: ca.cert })).rejects.toThrow();
  });
});
