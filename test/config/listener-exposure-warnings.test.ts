// The warning for a listener other machines can reach, by what locks it:
// nothing, or TLS without client certificates (anyone can read and write);
// bearer tokens without TLS (they can be read on the wire); tokens over TLS
// or mTLS (nothing to say); and nothing at all on loopback.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { collectWarnings } from '../../src/config/schema.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';
import { type CertFiles, type TestCa, issueCert, makeCa } from '../helpers/tls-certs.js';
import { baseConfig, parse } from './helpers.js';

const exposure = (c: unknown) => collectWarnings(parse(c)).filter((w) => w.includes('listener.http.socket_address'));

const ANYONE = 'anyone who can connect can read and write this cache';
const ADD_AUTH = 'Add listener.http.auth with a tokens file (ncache init --aws --listen writes one)';

describe('the listener exposure warning', () => {
  let dir = '';
  tempDirPerTest('ncache-exposure-', (d) => (dir = d));
  let ca: TestCa;
  let server: CertFiles;
  let tokensFile = '';

  beforeEach(async () => {
    ca = makeCa(dir, 'team-ca');
    server = issueCert(ca, 'cache', 'server');
    tokensFile = join(dir, 'tokens');
    await writeFile(tokensFile, 'a-team-token-0123456789\n', { mode: 0o600 });
  });

  const listening = (socket_address: string, lock: { auth?: boolean; tls?: boolean; mtls?: boolean } = {}) => {
    const c = baseConfig();
    c.servers[0].listener.http = {
      socket_address,
      ...(lock.auth ? { auth: { tokens_file: tokensFile } } : {}),
      ...(lock.tls || lock.mtls ? { tls: { cert_file: server.cert, key_file: server.key, ...(lock.mtls ? { client_ca_file: ca.cert } : {}) } } : {}),
    };
    return c;
  };

  it('says anyone can read and write, and the fix, when a reachable listener has neither TLS nor auth', () => {
    for (const address of ['0.0.0.0:50051', '[::]:50051', '10.1.2.3:50051', 'cache.internal:50051']) {
      expect(exposure(listening(address))).toEqual([
        `servers[0].listener.http.socket_address: ${address} is reachable from other machines, with no TLS or authentication; ${ANYONE}. ${ADD_AUTH}, or listen on 127.0.0.1`,
      ]);
    }
  });

  it('says the same of TLS without client certificates or auth: encrypted, but open to anyone', () => {
    expect(exposure(listening('0.0.0.0:50051', { tls: true }))).toEqual([
      `servers[0].listener.http.socket_address: 0.0.0.0:50051 is reachable from other machines over TLS but asks for no client certificate (tls.client_ca_file) or token; ${ANYONE}. ${ADD_AUTH}`,
    ]);
  });

  it('says the tokens cross the network unencrypted when a reachable listener has auth but no TLS', () => {
    expect(exposure(listening('0.0.0.0:50051', { auth: true }))).toEqual([
      'servers[0].listener.http.socket_address: 0.0.0.0:50051 is reachable from other machines without TLS: ' +
        'the bearer tokens of servers[0].listener.http.auth cross the network unencrypted, so anyone who can watch it can take one',
    ]);
  });

  it('says nothing for auth over TLS, for mTLS, and for loopback listeners', () => {
    expect(exposure(listening('0.0.0.0:50051', { auth: true, tls: true }))).toEqual([]);
    expect(exposure(listening('0.0.0.0:50051', { mtls: true }))).toEqual([]);
    for (const address of ['127.0.0.1:50051', '[::1]:50051', 'localhost:50051']) {
      expect(exposure(listening(address))).toEqual([]);
      expect(exposure(listening(address, { auth: true }))).toEqual([]);
    }
  });
});
