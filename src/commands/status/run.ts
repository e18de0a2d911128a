// `ncache status`: asks the running daemon who it is and how full its tiers are.
import { ncacheProcessAlive, readPidFile } from '../../daemon/control/pid-file.js';
import type { StatusResult } from '../../daemon/control/status.js';
import { NcacheError, errorCode } from '../../util/errors.js';
import { connectToDaemon } from '../daemon-client.js';
import { controlPaths } from '../../daemon/control/paths.js';

export type { StatusResult };

export interface StatusOptions {
  env?: NodeJS.ProcessEnv;
}

/**
 * Throws UNAVAILABLE ("no ncache daemon is running ...") when none answers;
 * when the pid file names a live daemon that does not answer (stopping), says so instead.
 */
export async function status(opts: StatusOptions = {}): Promise<StatusResult> {
  const env = opts.env ?? process.env;
  try {
    const client = await connectToDaemon(env);
    return await client.call<StatusResult>('status');
  } catch (err) {
    if (errorCode(err) !== 'UNAVAILABLE') throw err;
    const { pidFile, socketPath } = controlPaths(env);
    const owner = readPidFile(pidFile);
    if (owner !== undefined && owner.pid !== process.pid && ncacheProcessAlive(owner.pid)) {
      throw new NcacheError(
        'UNAVAILABLE',
        `the ncache daemon (pid ${owner.pid}) does not answer on ${socketPath}; it is probably stopping (run status again, or \`ncache stop\` to wait for it)`,
      );
    }
    throw err;
  }
}
