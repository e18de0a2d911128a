// TLS for one listener: grpc-js server credentials whose certificate, key,
// client CA and CRL follow the files of servers[].listener.http.tls. When a
// file changes the set is read and checked again (config/tls-material.ts);
// a good set goes to new connections (grpc-js calls setSecureContext on its
// http2 server, so connections already open keep theirs), a bad one is logged
// and the previous set stays. Why a ServerCredentials subclass rather than
// grpc-js's certificate providers: docs/architecture.md, "TLS listeners".
import { ServerCredentials } from '@grpc/grpc-js';
import { type FSWatcher, watch } from 'node:fs';
import { dirname } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { type TlsMaterial, TlsFileError, readTlsMaterial } from '../config/tls-material.js';
import type { ListenerTlsSpec } from '../config/types.js';
import { NcacheError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

/** Changes of one file come as several events (truncate, writes, rename): one reload after they settle. */
const SETTLE_MS = 100;
/** A second look for changes no event reported (a network filesystem, say); a no-op when nothing changed. */
const POLL_MS = 60_000;

export interface ListenerTls {
  readonly credentials: ServerCredentials;
  /** Stops following the files. */
  close(): void;
}

/**
 * Credentials for the listener `where` (e.g. `servers[0]`), reading the files
 * now (a file that went bad since the config loaded fails the start) and
 * again whenever they change.
 */
export function listenerTls(spec: ListenerTlsSpec, where: string, logger: Logger): ListenerTls {
  let credentials: FollowingCredentials | undefined;
  const files = followTlsFiles(spec, where, `${where}.listener.http.tls`, logger, (next) => credentials?.use(next));
  credentials = new FollowingCredentials(files.material, spec.client_ca_file !== undefined);
  return { credentials, close: files.close };
}

export interface FollowedTlsFiles {
  /** The set as read at start. */
  readonly material: TlsMaterial;
  /** Stops following the files. */
  close(): void;
}

/**
 * Reads the TLS files of the listener `where` now (throwing, naming the field
 * under `tlsPath`, when they are unusable) and calls `use` with every good,
 * changed set afterwards; a bad set is logged and the previous one stays.
 * The gRPC listener hands each set to its credentials, the http_cache
 * listener to its HTTPS server (setSecureContext).
 */
export function followTlsFiles(
  spec: ListenerTlsSpec,
  where: string,
  tlsPath: string,
  logger: Logger,
  use: (material: TlsMaterial) => void,
): FollowedTlsFiles {
  const fieldPath = (field: string) => `${tlsPath}.${field}`;
  let current: TlsMaterial;
  try {
    current = readTlsMaterial(spec);
  } catch (err) {
    if (err instanceof TlsFileError) throw new NcacheError('FAILED_PRECONDITION', `${fieldPath(err.field)}: ${err.message}`);
    throw err;
  }
  const initial = current;
  let lastFailure: string | undefined;

  const reload = () => {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(spec);
    } catch (err) {
      const why = err instanceof TlsFileError ? `${fieldPath(err.field)}: ${err.message}` : errorMessage(err);
      // Once per distinct failure: every event of a slow copy would repeat it.
      if (why !== lastFailure) logger.warn(`TLS files not reloaded, still serving the previous ones: ${why}`);
      lastFailure = why;
      return;
    }
    lastFailure = undefined;
    if (sameMaterial(next, current)) return;
    current = next;
    use(next);
    logger.info(`${where}: TLS files reloaded; new connections use them`, { cert_file: spec.cert_file });
  };

  let settle: NodeJS.Timeout | undefined;
  const changed = () => {
    clearTimeout(settle);
    settle = setTimeout(reload, SETTLE_MS);
  };
  // Directories, not files: a file renamed over (an atomic deploy, a Kubernetes
  // secret's symlink swap) is a new inode that a watch on the old one never sees.
  const files = [spec.cert_file, spec.key_file, spec.client_ca_file, spec.client_crl_file].filter((f) => f !== undefined);
  const watchers: FSWatcher[] = [...new Set(files.map((f) => dirname(f)))].map((dir) =>
    watch(dir, { persistent: false }, changed).on('error', (err) => {
      logger.warn(`${where}: stopped watching ${dir} for TLS file changes (${errorMessage(err)}); checking every ${POLL_MS / 1000} s`);
    }),
  );
  const poll = setInterval(reload, POLL_MS);
  poll.unref();

  return {
    material: initial,
    close() {
      clearTimeout(settle);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}

/**
 * Server credentials whose secure context can be replaced. grpc-js watches
 * credentials for context updates (its own certificate-provider credentials
 * use this same protected hook) and applies each to its TLS server.
 */
class FollowingCredentials extends ServerCredentials {
  constructor(material: TlsMaterial, requireClientCertificate: boolean) {
    // mTLS: ask every client for a certificate and refuse the handshake without a valid one.
    super({ requestCert: requireClientCertificate, rejectUnauthorized: requireClientCertificate }, contextOptions(material));
  }

  use(material: TlsMaterial): void {
    this.updateSecureContextOptions(contextOptions(material));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

/** The TLS context options of a set of files (what https.createServer and setSecureContext take). */
export function contextOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, ca: m.ca, crl: m.crl };
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined) => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca) && same(a.crl, b.crl);
}
