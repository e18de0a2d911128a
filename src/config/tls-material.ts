// The files of a TLS listener (servers[].listener.http.tls), read and checked
// as one set. The schema reads them when the config loads, so a wrong path or
// a key that is not the certificate's is a config error naming the field; the
// daemon reads them again whenever they change (src/daemon/tls.ts), and keeps
// serving the set it has when the new one fails these same checks.
import { type KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { errorMessage } from '../util/errors.js';
import type { ListenerTlsSpec } from './types.js';

/** What a TLS context is made of, as read from the files. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  readonly crl: Buffer | undefined;
}

/** One file of the set is missing, unreadable or wrong; `field` names it in the spec. */
export class TlsFileError extends Error {
  constructor(
    readonly field: keyof ListenerTlsSpec,
    readonly file: string,
    why: string,
  ) {
    super(`${file}: ${why}`);
    this.name = 'TlsFileError';
  }
}

/** Reads and checks every file of `spec`; throws a TlsFileError for the first that is wrong. */
export function readTlsMaterial(spec: ListenerTlsSpec): TlsMaterial {
  const cert = readPem('cert_file', spec.cert_file, 'CERTIFICATE');
  const key = readPem('key_file', spec.key_file, 'PRIVATE KEY');
  const leaf = certificates('cert_file', spec.cert_file, cert)[0]!;
  checkKeyMatches(spec, key, leaf);
  let ca: Buffer | undefined;
  if (spec.client_ca_file !== undefined) {
    ca = readPem('client_ca_file', spec.client_ca_file, 'CERTIFICATE');
    certificates('client_ca_file', spec.client_ca_file, ca);
  }
  let crl: Buffer | undefined;
  if (spec.client_crl_file !== undefined) {
    crl = readPem('client_crl_file', spec.client_crl_file, 'X509 CRL');
    loads('client_crl_file', spec.client_crl_file, { crl });
  }
  // The whole set as the TLS server will load it (a chain OpenSSL refuses, say).
  loads('cert_file', spec.cert_file, { cert, key, ca, crl });
  return { cert, key, ca, crl };
}

function readPem(field: keyof ListenerTlsSpec, file: string, label: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new TlsFileError(field, file, readFailure(err));
  }
  // "PRIVATE KEY" also finds "RSA PRIVATE KEY" and "EC PRIVATE KEY".
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(data.toString('latin1'))) {
    throw new TlsFileError(field, file, `not PEM: expected a "-----BEGIN ${label}-----" block`);
  }
  return data;
}

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'cannot read it (permission denied)';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return `cannot read it: ${errorMessage(err)}`;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, parsed; a damaged one (a half-written file) throws. */
function certificates(field: keyof ListenerTlsSpec, file: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new TlsFileError(field, file, 'not PEM: no complete certificate block');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new TlsFileError(field, file, `certificate ${i + 1} is damaged: ${errorMessage(err)}`);
    }
  });
}

function checkKeyMatches(spec: ListenerTlsSpec, key: Buffer, leaf: X509Certificate): void {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError('key_file', spec.key_file, `not a usable private key (an encrypted key is not supported): ${errorMessage(err)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsFileError('key_file', spec.key_file, `is not the private key of the first certificate in ${spec.cert_file}`);
  }
}

function loads(field: keyof ListenerTlsSpec, file: string, options: Parameters<typeof createSecureContext>[0]): void {
  try {
    createSecureContext(options);
  } catch (err) {
    throw new TlsFileError(field, file, `TLS cannot use it: ${errorMessage(err)}`);
  }
}
