// Two daemons as a team runs them, for the real-Bazel forwarding test and the
// remote benchmark: a "cluster" on what `ncache init --exec` writes (it runs
// the actions) and a "laptop" on what `ncache init --remote` writes, pointing
// at the cluster. The cluster keeps fixed ports, so it can be stopped and
// started again where the laptop's config expects it; each daemon has its own
// data and state dirs, and `ncache` commands reach each through its state dir.
import { checkRemoteArgs, renderRemoteConfig } from '../../src/commands/init/remote.js';
import { renderExecConfig } from '../../src/commands/init/run.js';
import { type CliRun, runNcache } from './cli-daemon.js';
import { DaemonFixture } from './daemon-process.js';
import { closedPort } from './ports.js';

const TEMPLATE_LISTENER = 'socket_address: "127.0.0.1:50051"';
const TEMPLATE_WORKER_API = '127.0.0.1:50061';

function substitute(text: string, needle: string, by: string, what: string): string {
  if (!text.includes(needle)) throw new Error(`the ${what} template no longer has ${needle}`);
  return text.replaceAll(needle, by);
}

/** A daemon's fixture and the `ncache` CLI pointed at it (its state dir). */
export interface TeamDaemon {
  readonly fixture: DaemonFixture;
  /** Runs the built CLI against this daemon (through its control socket). */
  cli(args: string[]): Promise<CliRun>;
}

function teamDaemon(fixture: DaemonFixture): TeamDaemon {
  return { fixture, cli: (args) => runNcache(args, { env: { NCACHE_STATE_DIR: fixture.stateDir } }) };
}

export interface Cluster extends TeamDaemon {
  /** "grpc://127.0.0.1:PORT": the fixed address of its main listener. */
  readonly url: string;
}

/** The cluster: `ncache init --exec` on two fixed free ports (main listener, worker API), stores in the fixture's data dir. */
export async function clusterFixture(): Promise<Cluster> {
  const [port, workerApiPort] = [await closedPort(), await closedPort()];
  const text = substitute(
    substitute(renderExecConfig(), TEMPLATE_LISTENER, `socket_address: "127.0.0.1:${port}"`, 'exec'),
    TEMPLATE_WORKER_API,
    `127.0.0.1:${workerApiPort}`,
    'exec',
  );
  const fixture = await DaemonFixture.withLayout({
    prefix: 'ncache-cluster-',
    configText: (dataDir) => text.replaceAll('${NCACHE_CACHE_DIR}', dataDir),
    env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
    stopTimeoutMs: 15_000,
  });
  return { ...teamDaemon(fixture), url: `grpc://127.0.0.1:${port}` };
}

/** A laptop: `ncache init --remote <clusterUrl>` with its listener on port 0, stores in the fixture's data dir. */
export async function laptopFixture(clusterUrl: string, opts: { instance?: string; tokenFile?: string } = {}): Promise<TeamDaemon> {
  const upstream = checkRemoteArgs({ remote: clusterUrl, ...opts });
  const text = substitute(renderRemoteConfig(upstream), TEMPLATE_LISTENER, 'socket_address: "127.0.0.1:0"', 'remote');
  const fixture = await DaemonFixture.withLayout({
    prefix: 'ncache-laptop-',
    configText: (dataDir) => text.replaceAll('${NCACHE_CACHE_DIR}', dataDir),
    env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
    stopTimeoutMs: 15_000,
  });
  return teamDaemon(fixture);
}

/** `ncache <command> --json` against a daemon, parsed; throws with the CLI's output when it fails. */
export async function cliJson<T>(daemon: TeamDaemon, args: string[]): Promise<T> {
  const run = await daemon.cli([...args, '--json']);
  if (run.code !== 0) throw new Error(`ncache ${args.join(' ')} exited ${run.code}: ${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as T;
}
