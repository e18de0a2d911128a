// servers[].listener.http.tls: NativeLink's keys, with the files read and
// checked when the config loads, each problem naming its field.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { type TestCa, type CertFiles, issueCert, makeCa, writeCrl } from '../helpers/tls-certs.js';
import { tempDirPerTest } from '../helpers/temp-dir.js';
import { baseConfig, issuesOf, parse } from './helpers.js';

let dir = '';
tempDirPerTest('ncache-tls-config-', (d) => (dir = d));

let ca: TestCa;
let server: CertFiles;
beforeEach(() => {
  ca = makeCa(dir, 'team-ca');
  server = issueCert(ca, 'server', 'server');
});

function withTls(tls: Record<string, unknown>) {
  const c = baseConfig();
  c.servers[0].listener.http.tls = tls;
  return c;
}

const AT = 'servers[0].listener.http.tls';

describe('listener tls', () => {
  it('reads the four NativeLink keys into absolute paths; relative ones resolve against the config file', () => {
    const crl = writeCrl(ca);
    const text = JSON.stringify(withTls({ cert_file: 'server.pem', key_file: 'server.key', client_ca_file: 'team-ca.pem', client_crl_file: crl }));
    const config = parse(text, undefined, join(dir, 'ncache.json5'));
    expect(config.servers[0]!.listener.http.tls).toEqual({ cert_file: server.cert, key_file: server.key, client_ca_file: ca.cert, client_crl_file: crl });
    expect(parse(withTls({ cert_file: server.cert, key_file: server.key })).servers[0]!.listener.http.tls).toEqual({
      cert_file: server.cert,
      key_file: server.key,
    });
  });

  it('needs both cert_file and key_file, and names a misspelt key', () => {
    expect(issuesOf(withTls({ cert_file: server.cert, client_ca: ca.cert }))).toEqual([
      `${AT}.key_file: missing required field (expected the path of the certificate's private key, a PEM file)`,
      `${AT}.client_ca: unknown field (did you mean "client_ca_file"?)`,
    ]);
  });

  it('names the field and the file when a file is missing, not PEM, or damaged', () => {
    const missing = join(dir, 'nope.pem');
    expect(issuesOf(withTls({ cert_file: missing, key_file: server.key }))).toEqual([`${AT}.cert_file: ${missing}: no such file`]);

    const notPem = join(dir, 'key.der');
    writeFileSync(notPem, Buffer.from([0x30, 0x82, 0x01, 0x22]));
    expect(issuesOf(withTls({ cert_file: server.cert, key_file: notPem }))).toEqual([
      `${AT}.key_file: ${notPem}: not PEM: expected a "-----BEGIN PRIVATE KEY-----" block`,
    ]);

    // Half a certificate: what a reader sees in the middle of an in-place write.
    const half = join(dir, 'half.pem');
    const pem = readFileSync(server.cert, 'utf8');
    writeFileSync(half, pem.slice(0, pem.length / 2));
    expect(issuesOf(withTls({ cert_file: half, key_file: server.key }))).toEqual([`${AT}.cert_file: ${half}: not PEM: no complete certificate block`]);

    expect(issuesOf(withTls({ cert_file: server.cert, key_file: server.key, client_ca_file: dir }))).toEqual([
      `${AT}.client_ca_file: ${dir}: is a directory, not a file`,
    ]);
  });

  it('refuses a key that is not the certificate’s', () => {
    const other = issueCert(ca, 'other', 'server');
    expect(issuesOf(withTls({ cert_file: server.cert, key_file: other.key }))).toEqual([
      `${AT}.key_file: ${other.key}: is not the private key of the first certificate in ${server.cert}`,
    ]);
  });

  it('takes client_crl_file only with client_ca_file, and only a PEM CRL', () => {
    const crl = writeCrl(ca);
    expect(issuesOf(withTls({ cert_file: server.cert, key_file: server.key, client_crl_file: crl }))).toEqual([
      `${AT}.client_crl_file: needs client_ca_file: client certificates are only asked for (and checked against revocations) when client_ca_file is set`,
    ]);
    expect(issuesOf(withTls({ cert_file: server.cert, key_file: server.key, client_ca_file: ca.cert, client_crl_file: ca.cert }))).toEqual([
      `${AT}.client_crl_file: ${ca.cert}: not PEM: expected a "-----BEGIN X509 CRL-----" block`,
    ]);
  });
});
