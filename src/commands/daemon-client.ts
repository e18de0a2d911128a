// How commands reach the running daemon: its control socket for this
// environment's state directory. No socket -> the "start one" error.
import { lstatSync } from 'node:fs';
import type { ControlMethodName, ItemOf, ParamsOf, ResultOf } from '../daemon/control/api.js';
import { type CallHandlers, callMethod, noDaemonMessage } from '../daemon/control/client.js';
import { type ControlPaths, controlPaths } from '../daemon/control/paths.js';
import { NcacheError } from '../util/errors.js';

export interface DaemonClient {
  readonly paths: ControlPaths;
  readonly socketPath: string;
  /** One control call; params, items and result are typed by the method (src/daemon/control/api.ts). */
  call<M extends ControlMethodName>(method: M, params: ParamsOf<M>, handlers?: CallHandlers<ItemOf<M>>): Promise<ResultOf<M>>;
}

/**
 * A client for the daemon serving this environment's state directory. Throws
 * UNAVAILABLE with `noDaemonMessage` at once when there is no socket; a socket
 * nobody answers on gives the same error at the first call.
 */
export async function connectToDaemon(env: NodeJS.ProcessEnv = process.env): Promise<DaemonClient> {
  const paths = controlPaths(env);
  const { socketPath } = paths;
  try {
    lstatSync(socketPath);
  } catch {
    throw new NcacheError('UNAVAILABLE', noDaemonMessage(socketPath));
  }
  return {
    paths,
    socketPath,
    call: (method, params, handlers) => callMethod(socketPath, method, params, handlers),
  };
}
