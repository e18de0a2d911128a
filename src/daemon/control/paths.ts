// Where a daemon's control socket, pid file and log file live. Daemons on
// different state directories get different sockets, so they can coexist.
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { configEnv } from '../../config/dirs.js';
import { failedPrecondition, invalidArgument } from '../../util/errors.js';

export interface ControlPaths {
  /** The daemon's state directory (catalog, pid file, log file). */
  readonly stateDir: string;
  /** The private directory holding the control socket. */
  readonly runtimeDir: string;
  readonly socketPath: string;
  readonly pidFile: string;
  readonly logFile: string;
}

/** Unix socket paths longer than this do not fit in sockaddr_un (108 bytes with the NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** $NCACHE_STATE_DIR, else $NCACHE_CACHE_DIR, else the cache directory (the daemon's own rule). */
export function stateDirOf(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.NCACHE_STATE_DIR;
  if (explicit !== undefined && explicit !== '') return explicit;
  return configEnv(env).NCACHE_CACHE_DIR!;
}

export function controlPaths(env: NodeJS.ProcessEnv = process.env): ControlPaths {
  // Absolute, so "./state" and "$PWD/state" name the same daemon.
  const stateDir = resolve(stateDirOf(env));
  const xdg = env.XDG_RUNTIME_DIR;
  // XDG says a relative XDG_RUNTIME_DIR is invalid and must be ignored.
  const runtimeDir = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? join(xdg, 'ncache') : join(stateDir, 'run');
  const tag = createHash('sha256').update(stateDir).digest('hex').slice(0, 12);
  return {
    stateDir,
    runtimeDir,
    socketPath: join(runtimeDir, `control-${tag}.sock`),
    pidFile: join(stateDir, 'daemon.pid'),
    logFile: join(stateDir, 'daemon.log'),
  };
}

/** Rejects a socket path the kernel would truncate, naming the variables that shorten it. */
export function checkSocketPathLength(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw invalidArgument(
      `control socket path is ${bytes} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} a Unix socket allows: ${socketPath} ` +
        '(set XDG_RUNTIME_DIR or NCACHE_STATE_DIR to a shorter directory)',
    );
  }
}

/**
 * Creates `dir` (and parents) and makes sure only this user can enter it:
 * mode 0700, owned by us. A directory with a looser mode is tightened; one
 * owned by someone else is refused, since they could replace our socket.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw failedPrecondition(`${dir} is not a directory; the control socket needs a private directory there`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw failedPrecondition(
      `${dir} belongs to uid ${st.uid}, not to you (uid ${uid}); refusing to put the control socket there ` +
        '(set XDG_RUNTIME_DIR or NCACHE_STATE_DIR to a directory of your own)',
    );
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}
