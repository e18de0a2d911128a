// `ncache serve` from the command line: runs the daemon in the foreground
// until it stops (a signal, or `ncache stop` through the control socket).
import { errorMessage } from '../../util/errors.js';
import { EXIT_INTERRUPTED, ReportedFailure } from '../exit.js';
import { serve } from './run.js';
import { STOPPED_LINE, formatServing, printWarnings, signalLine } from './view.js';

export async function serveCommand(flags: { config?: string }): Promise<void> {
  const running = await serve({ configPath: flags.config });
  const insisted = stopOnSignals(running.stop);
  printWarnings(running.warnings);
  process.stdout.write(formatServing(running));
  await Promise.race([running.stopped, insisted]);
  process.stdout.write(STOPPED_LINE);
}

/**
 * First SIGINT/SIGTERM: graceful stop (in-flight writes finish). Second: the
 * returned promise rejects, and cli.ts exits at once without waiting.
 */
function stopOnSignals(stop: () => Promise<void>): Promise<never> {
  return new Promise((_resolve, reject) => {
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      received += 1;
      process.stderr.write(signalLine(signal, received));
      if (received > 1) return reject(new ReportedFailure(EXIT_INTERRUPTED));
      stop().catch((err: unknown) => process.stderr.write(`ncache: stop failed: ${errorMessage(err)}\n`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
