// A real daemon with a TLS listener, real grpc-js clients over loopback, and
// certificates made by openssl for each test: who gets in (right CA, client
// certificates for mTLS, revocations), and what happens when the files change.
import { type ChannelCredentials, credentials, status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ListenerTlsSpec } from '../../src/config/types.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { ReapiClient, blobName, uploadName } from '../helpers/grpc-client.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { type CertFiles, type TestCa, caWithServer, issueCert, writeCrl } from '../helpers/tls-certs.js';
import { liveFiles, replaceByRename } from '../helpers/live-tls-files.js';
import { waitFor } from '../helpers/wait-for.js';
import { digestOf } from '../../src/util/digest.js';
import { fixtureConfig } from './fixture.js';

const cleanups = cleanupsAfterEach();

async function startTlsDaemon(root: string, tls: ListenerTlsSpec) {
  const logger = collectingLogger();
  const config = fixtureConfig(root, { edit: (c) => (c.servers[0]!.listener.http.tls = tls) });
  const daemon = await startDaemon({ config, logger, stateDir: join(root, 'state') });
  cleanups.push(() => daemon.stop({ graceMs: 1000 }));
  return { daemon, address: daemon.addresses[0]!, logger };
}

/** The certificates name localhost; the daemon is dialed on 127.0.0.1 (an IP as TLS server name is deprecated in Node). */
const AS_LOCALHOST = { 'grpc.ssl_target_name_override': 'localhost' };

function client(address: string, creds: ChannelCredentials): ReapiClient {
  const c = new ReapiClient(address, AS_LOCALHOST, creds);
  cleanups.push(() => c.close());
  return c;
}

/** TLS credentials trusting `ca`, presenting `clientCert` when given. */
function trusting(ca: TestCa, clientCert?: CertFiles): ChannelCredentials {
  return credentials.createSsl(
    readFileSync(ca.cert),
    clientCert ? readFileSync(clientCert.key) : null,
    clientCert ? readFileSync(clientCert.cert) : null,
  );
}

/** Capabilities, then a ByteStream write and read of a fresh blob: the client is fully served. */
async function roundTrip(c: ReapiClient): Promise<void> {
  expect((await c.getCapabilities('')).cacheCapabilities).not.toBeNull();
  const data = randomBytes(100_000);
  const digest = await c.uploadBlob(data);
  expect((await c.downloadBlob(digest)).equals(data)).toBe(true);
}

/** Whether a fresh client with `creds` gets an answer (false: it is refused). */
async function connects(address: string, creds: ChannelCredentials): Promise<boolean> {
  const c = new ReapiClient(address, AS_LOCALHOST, creds);
  try {
    await c.getCapabilities('');
    return true;
  } catch (err) {
    expect(err).toMatchObject({ code: status.UNAVAILABLE });
    return false;
  } finally {
    c.close();
  }
}

describe('a TLS listener', () => {
  it('serves clients that trust its CA and refuses plaintext clients and clients trusting another CA', async () => {
    const root = await tempDir('ncache-tls-', cleanups);
    const one = caWithServer(root, 'ca1');
    const other = caWithServer(root, 'ca2');
    const { address } = await startTlsDaemon(root, liveFiles(root, one.server));

    await roundTrip(client(address, trusting(one.ca)));
    await expect(client(address, credentials.createInsecure()).getCapabilities('')).rejects.toMatchObject({ code: status.UNAVAILABLE });
    await expect(client(address, trusting(other.ca)).getCapabilities('')).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('with client_ca_file (mTLS) serves only clients presenting a certificate from that CA', async () => {
    const root = await tempDir('ncache-mtls-', cleanups);
    const one = caWithServer(root, 'ca1');
    const clients = caWithServer(root, 'clients');
    const stranger = caWithServer(root, 'stranger');
    const { address } = await startTlsDaemon(root, liveFiles(root, one.server, clients.ca));

    await roundTrip(client(address, trusting(one.ca, issueCert(clients.ca, 'alice', 'client'))));
    expect(await connects(address, trusting(one.ca))).toBe(false);
    expect(await connects(address, trusting(one.ca, issueCert(stranger.ca, 'mallory', 'client')))).toBe(false);
  });

  it('with client_crl_file refuses revoked client certificates, and follows a new CRL', async () => {
    const root = await tempDir('ncache-crl-', cleanups);
    const one = caWithServer(root, 'ca1');
    const clients = caWithServer(root, 'clients');
    const alice = issueCert(clients.ca, 'alice', 'client');
    const bob = issueCert(clients.ca, 'bob', 'client');
    const tls = liveFiles(root, one.server, clients.ca);
    tls.client_crl_file = join(root, 'live', 'clients.crl.pem');
    copyFileSync(writeCrl(clients.ca, [bob]), tls.client_crl_file);
    const { address } = await startTlsDaemon(root, tls);

    expect(await connects(address, trusting(one.ca, alice))).toBe(true);
    expect(await connects(address, trusting(one.ca, bob))).toBe(false);

    // Alice is revoked too: the new list reaches new connections.
    replaceByRename(tls.client_crl_file, writeCrl(clients.ca, [alice]));
    await waitFor(async () => !(await connects(address, trusting(one.ca, alice))), { what: 'the new CRL to refuse alice' });
  });

  it('serves a replaced certificate to new connections and keeps open connections, uploads included', async () => {
    const root = await tempDir('ncache-tls-reload-', cleanups);
    const one = caWithServer(root, 'ca1');
    const two = caWithServer(root, 'ca2');
    const tls = liveFiles(root, one.server);
    const { address, logger } = await startTlsDaemon(root, tls);

    // An upload half sent on a connection made with the first certificate.
    const early = client(address, trusting(one.ca));
    const data = randomBytes(200_000);
    const digest = digestOf(data);
    const upload = early.openWrite();
    expect(await upload.send({ resourceName: uploadName('', digest), writeOffset: 0, data: data.subarray(0, 100_000) })).toBe(true);

    // An atomic deploy: each file renamed over the old one (key first, so for a moment the pair does not match).
    replaceByRename(tls.key_file, two.server.key);
    replaceByRename(tls.cert_file, two.server.cert);
    await waitFor(() => connects(address, trusting(two.ca)), { what: 'the second CA’s certificate to be served' });
    expect(await connects(address, trusting(one.ca))).toBe(false);
    expect(logger.lines).toContain('info servers[0]: TLS files reloaded; new connections use them');

    // The connection made before the change was not cut.
    expect(await upload.send({ resourceName: '', writeOffset: 100_000, data: data.subarray(100_000), finishWrite: true })).toBe(true);
    upload.end();
    expect((await upload.response).committedSize).toBe(data.length);
    expect((await early.read(blobName('', digest))).equals(data)).toBe(true);
  });

  it('keeps serving the old certificate when the new files are bad, warning with the file, until they are good', async () => {
    const root = await tempDir('ncache-tls-bad-', cleanups);
    const one = caWithServer(root, 'ca1');
    const two = caWithServer(root, 'ca2');
    const tls = liveFiles(root, one.server);
    const { address, logger } = await startTlsDaemon(root, tls);
    const warnings = () => logger.lines.filter((l) => l.startsWith('warn '));

    // In place, and only half of it: what a reader sees in the middle of a slow copy.
    const pem = readFileSync(two.server.cert, 'utf8');
    writeFileSync(tls.cert_file, pem.slice(0, pem.length / 2));
    await waitFor(() => warnings().length > 0, { what: 'a warning about the half-written certificate' });
    expect(warnings()).toEqual([
      `warn TLS files not reloaded, still serving the previous ones: servers[0].listener.http.tls.cert_file: ${tls.cert_file}: not PEM: no complete certificate block`,
    ]);
    expect(await connects(address, trusting(one.ca))).toBe(true);

    // The whole certificate, but the key is still the old one.
    writeFileSync(tls.cert_file, pem);
    await waitFor(() => warnings().length > 1, { what: 'a warning about the key' });
    expect(warnings()[1]).toBe(
      `warn TLS files not reloaded, still serving the previous ones: servers[0].listener.http.tls.key_file: ${tls.key_file}: is not the private key of the first certificate in ${tls.cert_file}`,
    );
    expect(await connects(address, trusting(one.ca))).toBe(true);

    writeFileSync(tls.key_file, readFileSync(two.server.key));
    await waitFor(() => connects(address, trusting(two.ca)), { what: 'the completed files to be served' });
  });

  it('fails to start, naming the field, when a file went bad after the config loaded', async () => {
    const root = await tempDir('ncache-tls-gone-', cleanups);
    const one = caWithServer(root, 'ca1');
    const tls = liveFiles(root, one.server);
    rmSync(tls.key_file);
    await expect(startTlsDaemon(root, tls)).rejects.toThrow(`servers[0].listener.http.tls.key_file: ${tls.key_file}: no such file`);
  });
});
