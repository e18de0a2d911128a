// `ncache serve`: run the daemon in the foreground until SIGINT/SIGTERM.
import { bazelrcLines, clientUrls } from '../../config/bazelrc.js';
import { metricsUrls } from '../../config/metrics-urls.js';
import { collectWarnings } from '../../config/schema.js';
import { controlPaths } from '../../daemon/control/paths.js';
import { startDaemon } from '../../daemon/daemon.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { resolveConfig } from '../config-source.js';

export interface ServeOptions {
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** How long a graceful stop waits for in-flight requests. */
  graceMs?: number;
  /** Serve the control socket and write the pid file (default true; `ncache start/stop/status` need them). */
  control?: boolean;
}

export interface ServeHandle {
  readonly addresses: string[];
  /** How clients reach each listener: grpc://HOST:PORT, grpcs:// for a TLS one. */
  readonly urls: string[];
  readonly configSource: string;
  readonly warnings: string[];
  /** Lines to paste into .bazelrc to use this daemon. */
  readonly bazelrcLines: string[];
  /** Prometheus scrape URLs (listeners with experimental_prometheus). */
  readonly metricsUrls: string[];
  /** Resolves once the daemon has stopped. */
  readonly stopped: Promise<void>;
  /** The control socket, when served. */
  readonly controlSocket: string | undefined;
  /** force: no grace for in-flight calls and no upload flush (owed uploads stay journaled). */
  stop(opts?: { force?: boolean }): Promise<void>;
}

export async function serve(opts: ServeOptions = {}): Promise<ServeHandle> {
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? createLogger();
  const config = await resolveConfig(opts.configPath, env);
  const paths = opts.control === false ? undefined : controlPaths(env);

  // `stopped` settles when the daemon has stopped, whoever asked: a signal, stop() or `ncache stop`.
  let settleStopped!: { resolve: () => void; reject: (err: unknown) => void };
  const stopped = new Promise<void>((resolve, reject) => (settleStopped = { resolve, reject }));
  let stopping: Promise<void> | undefined;
  const stop = (stopOpts: { force?: boolean } = {}): Promise<void> => {
    stopping ??= daemon.stop(stopOpts.force ? { graceMs: 0, flush: false } : { graceMs: opts.graceMs ?? 10_000 });
    stopping.then(settleStopped.resolve, settleStopped.reject);
    return stopping;
  };

  const daemon = await startDaemon({
    config,
    logger,
    env,
    ...(paths ? { control: { socketPath: paths.socketPath, pidFile: paths.pidFile, requestStop: (o: { force: boolean }) => void stop(o) } } : {}),
  });

  return {
    addresses: daemon.addresses,
    urls: clientUrls(config, daemon.addresses),
    configSource: config.source,
    warnings: collectWarnings(config),
    bazelrcLines: bazelrcLines(config, daemon.addresses),
    metricsUrls: metricsUrls(config, daemon.addresses),
    stopped,
    controlSocket: daemon.controlSocket,
    stop,
  };
}
