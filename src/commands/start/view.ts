// `ncache start` for people: what it cleaned, the daemon it started (or found
// running), and what to add to .bazelrc.
import { resolve } from 'node:path';
import { cleanedLines } from '../daemon-files.js';
import type { StartResult } from './run.js';

export function formatStart(result: StartResult): string {
  const lines = cleanedLines(result.cleaned);
  const where = result.addresses.join(', ');
  if (result.status === 'already-running') lines.push(`ncache is already running (pid ${result.pid}) on ${where}`);
  else lines.push(`ncache started (pid ${result.pid}) on ${where}`, `config: ${result.configSource}`, `log: ${result.logFile}`);
  lines.push(...result.metricsUrls.map((url) => `metrics: ${url}`));
  lines.push('Add to .bazelrc:', ...result.bazelrcLines.map((line) => `  ${line}`));
  return lines.join('\n') + '\n';
}

/** A daemon already running with another config than --config asks for: how to switch (stderr); undefined when they agree. */
export function configMismatchWarning(result: StartResult, configPath: string | undefined): string | undefined {
  if (result.status !== 'already-running' || configPath === undefined || resolve(configPath) === result.configSource) return undefined;
  return (
    `warning: it runs with ${result.configSource}, not ${resolve(configPath)}; ` +
    `restart it to switch: ncache stop && ncache start --config ${configPath}\n`
  );
}
