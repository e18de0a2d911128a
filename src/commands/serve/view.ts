// `ncache serve` for people: where it listens and what to add to .bazelrc,
// then a line when it has stopped; signals are announced on stderr.
import type { ServeHandle } from './run.js';

/** One string, so a reader that waits for the first line also has the rest. */
export function formatServing(running: ServeHandle): string {
  return (
    [
      ...running.urls.map((url) => `ncache listening on ${url}`),
      `config: ${running.configSource}`,
      ...running.metricsUrls.map((url) => `metrics: ${url}`),
      'Add to .bazelrc:',
      ...running.bazelrcLines.map((line) => `  ${line}`),
    ].join('\n') + '\n'
  );
}

export function printWarnings(warnings: readonly string[]): void {
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
}

export const STOPPED_LINE = 'ncache stopped\n';

export function signalLine(signal: NodeJS.Signals, received: number): string {
  return received > 1
    ? `ncache: second ${signal}, exiting without waiting\n`
    : `ncache: ${signal} received, finishing in-flight requests (again to force)\n`;
}
