// TLS for one listener: the certificate, key, client CA and CRL follow the
// files of servers[].listener.http.tls. When a file changes the set is read
// and checked again (config/tls-material.ts); a good set goes to new
// connections (the listener's setSecureContext, so connections already open
// keep theirs), a bad one is logged and the previous set stays.
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
 * The gRPC and http_cache listeners hand each set to their TLS server
 * (setSecureContext).
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

/** The TLS context options of a set of files (what https.createServer and setSecureContext take). */
export function contextOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, ca: m.ca, crl: m.crl };
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined) => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.ca, b.ca) && same(a.crl, b.crl);
}
