// Throwaway certificates made with the openssl command line at test time: a
// CA, server certificates for localhost and 127.0.0.1, client certificates,
// and revocation lists. Nothing is checked in; every test gets fresh keys.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its private key, as PEM files. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** A certificate authority: its files and the directory of its revocation database. */
export interface TestCa extends CertFiles {
  readonly name: string;
  readonly dir: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA named `name` in `dir`, with what `openssl ca` needs to revoke and publish a CRL. */
export function makeCa(dir: string, name: string): TestCa {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert],
    dir,
  );
  writeFileSync(join(dir, `${name}.index`), '');
  writeFileSync(join(dir, `${name}.cnf`), caConfig(dir, name, cert, key));
  return { name, dir, cert, key };
}

function caConfig(dir: string, name: string, cert: string, key: string): string {
  return [
    '[ca]',
    'default_ca = this_ca',
    '[this_ca]',
    `database = ${join(dir, `${name}.index`)}`,
    `certificate = ${cert}`,
    `private_key = ${key}`,
    'default_md = sha256',
    'default_crl_days = 2',
    '',
  ].join('\n');
}

/**
 * A certificate signed by `ca`: for a server it names localhost and
 * 127.0.0.1 (so clients dialing either verify it), for a client it is for
 * TLS client authentication.
 */
export function issueCert(ca: TestCa, name: string, role: 'server' | 'client'): CertFiles {
  const cert = join(ca.dir, `${name}.pem`);
  const key = join(ca.dir, `${name}.key`);
  const csr = join(ca.dir, `${name}.csr`);
  const ext = join(ca.dir, `${name}.ext`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr], ca.dir);
  writeFileSync(
    ext,
    role === 'server'
      ? 'subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n'
      : 'extendedKeyUsage = clientAuth\n',
  );
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-sha256', '-extfile', ext, '-out', cert], ca.dir);
  return { cert, key };
}

/** Writes `ca`'s revocation list to `<ca>.crl.pem`, listing `revoked` (none: an empty list). */
export function writeCrl(ca: TestCa, revoked: readonly CertFiles[] = []): string {
  const config = join(ca.dir, `${ca.name}.cnf`);
  for (const c of revoked) openssl(['ca', '-config', config, '-revoke', c.cert], ca.dir);
  const crl = join(ca.dir, `${ca.name}.crl.pem`);
  openssl(['ca', '-config', config, '-gencrl', '-out', crl], ca.dir);
  return crl;
}

/** A CA in its own directory under `root`, with one server certificate for localhost/127.0.0.1. */
export function caWithServer(root: string, name: string): { ca: TestCa; server: CertFiles } {
  const dir = join(root, name);
  mkdirSync(dir);
  const ca = makeCa(dir, name);
  return { ca, server: issueCert(ca, 'server', 'server') };
}
