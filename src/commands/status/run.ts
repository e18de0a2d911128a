// `ncache status`: asks the running daemon who it is and how full its tiers are.
import type { StatusResult as DaemonStatus } from '../../daemon/control/status.js';
import type { UpstreamStatus } from '../../daemon/control/upstream-status.js';
import { NcacheError, errorCode } from '../../util/errors.js';
import { connectToDaemon } from '../daemon-client.js';
import { liveDaemonPid } from '../daemon-files.js';
import { controlPaths } from '../../daemon/control/paths.js';

/** The daemon's status, and each upstream it forwards to as it answers now. */
export type StatusResult = DaemonStatus & { upstreams: UpstreamStatus[] };

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
    // In parallel: the upstreams' answers take up to their probe deadline, the rest is instant.
    const [result, { upstreams }] = await Promise.all([client.call('status', {}), client.call('upstreams', {})]);
    return { ...result, upstreams };
  } catch (err) {
    if (errorCode(err) !== 'UNAVAILABLE') throw err;
    const paths = controlPaths(env);
    const pid = liveDaemonPid(paths);
    if (pid !== undefined) {
      throw new NcacheError(
        'UNAVAILABLE',
        `the ncache daemon (pid ${pid}) does not answer on ${paths.socketPath}; it is probably stopping (run status again, or \`ncache stop\` to wait for it)`,
      );
    }
    throw err;
  }
}
