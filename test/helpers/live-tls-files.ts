// A listener's TLS files as a test can change them under a running daemon:
// copies in a directory of their own, replaced the way deploy tools do.
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ListenerTlsSpec } from '../../src/config/types.js';
import type { CertFiles, TestCa } from './tls-certs.js';

/** Copies of the server's certificate and key (and the client CA for mTLS) in `root`/live, as the config's tls spec. */
export function liveFiles(root: string, server: CertFiles, clientCa?: TestCa): ListenerTlsSpec {
  const dir = join(root, 'live');
  mkdirSync(dir, { recursive: true });
  const spec: ListenerTlsSpec = { cert_file: join(dir, 'server.pem'), key_file: join(dir, 'server.key') };
  copyFileSync(server.cert, spec.cert_file);
  copyFileSync(server.key, spec.key_file);
  if (clientCa) {
    spec.client_ca_file = join(dir, 'client-ca.pem');
    copyFileSync(clientCa.cert, spec.client_ca_file);
  }
  return spec;
}

/** Writes `source`'s content next to `target` and renames it over `target`: a new inode, as deploy tools do. */
export function replaceByRename(target: string, source: string): void {
  const staging = `${target}.new`;
  copyFileSync(source, staging);
  renameSync(staging, target);
}
