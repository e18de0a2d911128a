// A listener with experimental_prometheus and TLS ends TLS itself (the shared
// port), so the listener's TLS promises are checked here again on real
// connections: mTLS refuses clients without a certificate from the client CA
// (gRPC and scrape alike), replaced certificate files reach new handshakes,
// and a port already taken is reported with the listener's field.
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ListenerTlsSpec } from '../../src/config/types.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { collectingLogger } from '../helpers/collecting-logger.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { httpGet } from '../helpers/prometheus.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { type CertFiles, type TestCa, caWithServer, issueCert, makeCa } from '../helpers/tls-certs.js';
import { liveFiles, replaceByRename } from '../helpers/live-tls-files.js';
import { waitFor } from '../helpers/wait-for.js';
import { fixtureConfig } from './fixture.js';

const cleanups = cleanupsAfterEach();

async function startMetricsDaemon(root: string, tls: ListenerTlsSpec | undefined, socketAddress = '127.0.0.1:0') {
  const logger = collectingLogger();
  const config = fixtureConfig(root, {
    edit: (c) => {
      const server = c.servers[0]!;
      server.listener.http.socket_address = socketAddress;
      if (tls) server.listener.http.tls = tls;
      server.services.experimental_prometheus = { path: '/metrics' };
    },
  });
  const daemon = await startDaemon({ config, logger, stateDir: join(root, `state-${Math.random()}`) });
  cleanups.push(() => daemon.stop({ graceMs: 1000 }));
  return { address: daemon.addresses[0]!, logger };
}

/** Whether a gRPC client with `creds` is served (GetCapabilities answers). */
async function grpcServed(address: string, creds: ChannelCredentials): Promise<boolean> {
  const c = new ReapiClient(address, { 'grpc.ssl_target_name_override': 'localhost' }, creds);
  try {
    await c.getCapabilities('');
    return true;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

/** The status of an HTTPS scrape trusting `ca` (with a client certificate when given), or "refused" when the handshake fails. */
async function scrapeStatus(address: string, ca: TestCa, clientCert?: CertFiles): Promise<number | 'refused'> {
  try {
    const answer = await httpGet(`https://${address}/metrics`, {
      ca: readFileSync(ca.cert),
      ...(clientCert ? { cert: readFileSync(clientCert.cert), key: readFileSync(clientCert.key) } : {}),
    });
    return answer.status;
  } catch {
    return 'refused';
  }
}

describe('experimental_prometheus on a TLS listener', () => {
  it('under mTLS serves gRPC and the scrape only to clients with a certificate from the client CA', async () => {
    const root = await tempDir('ncache-prom-mtls-', cleanups);
    const server = caWithServer(root, 'server-ca');
    mkdirSync(join(root, 'clients'));
    const clientCa = makeCa(join(root, 'clients'), 'client-ca');
    const alice = issueCert(clientCa, 'alice', 'client');
    const { address } = await startMetricsDaemon(root, { cert_file: server.server.cert, key_file: server.server.key, client_ca_file: clientCa.cert });
    const caPem = readFileSync(server.ca.cert);
    expect(await grpcServed(address, credentials.createSsl(caPem, readFileSync(alice.key), readFileSync(alice.cert)))).toBe(true);
    expect(await grpcServed(address, credentials.createSsl(caPem))).toBe(false);
    expect(await scrapeStatus(address, server.ca, alice)).toBe(200);
    expect(await scrapeStatus(address, server.ca)).toBe('refused');
  });

  it('serves replaced certificate files to new handshakes, gRPC and scrape alike', async () => {
    const root = await tempDir('ncache-prom-tls-reload-', cleanups);
    const one = caWithServer(root, 'ca1');
    const two = caWithServer(root, 'ca2');
    const tls = liveFiles(root, one.server);
    const { address, logger } = await startMetricsDaemon(root, tls);
    expect(await scrapeStatus(address, one.ca)).toBe(200);

    replaceByRename(tls.key_file, two.server.key);
    replaceByRename(tls.cert_file, two.server.cert);
    await waitFor(async () => (await scrapeStatus(address, two.ca)) === 200, { what: 'the second CA’s certificate to be served' });
    expect(await scrapeStatus(address, one.ca)).toBe('refused');
    expect(await grpcServed(address, credentials.createSsl(readFileSync(two.ca.cert)))).toBe(true);
    expect(logger.lines).toContain('info servers[0]: TLS files reloaded; new connections use them');
  });

  it('names the listener field when its port is taken', async () => {
    const root = await tempDir('ncache-prom-port-', cleanups);
    const { address } = await startMetricsDaemon(root, undefined);
    await expect(startMetricsDaemon(root, undefined, address)).rejects.toThrow(
      `servers[0] ("main").listener.http.socket_address: cannot listen on ${address}: the address is already in use`,
    );
  });
});
