// `ncache stats [--watch]` from the command line: one answer, a live view on a
// terminal, or one block (or JSON line) per interval when piped.
import type { StatsResult } from '../../daemon/control/stats.js';
import { inkSeesCi, noColorWanted, printJson } from '../output.js';
import { secondsFlag } from '../seconds-flag.js';
import { buildStatsModel, renderStatsText } from './model.js';
import { stats, watchStats } from './run.js';

export async function statsCommand(flags: { watch?: boolean; interval: string; json?: boolean }): Promise<void> {
  const intervalMs = secondsFlag(flags.interval, '--interval');
  if (!flags.watch) {
    const result = await stats();
    if (flags.json) return printJson(result);
    return void process.stdout.write(renderStatsText(buildStatsModel(result)));
  }
  if (!flags.json && process.stdout.isTTY && !process.env.CI && !inkSeesCi(process.env)) {
    await stats(); // no daemon: the usual error and exit 1, before drawing anything
    // ink and react load only for the live view.
    const { runStatsView } = await import('./live-view.js');
    return runStatsView({ intervalMs, fetch: () => stats(), noColor: noColorWanted() });
  }
  // Piped: line-based output until Ctrl-C / SIGTERM, which end it normally.
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  let previous: StatsResult | undefined;
  for await (const result of watchStats(intervalMs, stop.signal)) {
    process.stdout.write(flags.json ? JSON.stringify(result) + '\n' : renderStatsText(buildStatsModel(result, previous)) + '\n');
    previous = result;
  }
}
