// `ncache stats`: asks the running daemon for its numbers (the `stats` control
// method), once or every interval with --watch. Printing is cli.ts's job (plain
// text or JSON) or the ink view's (stats-view.tsx).
import { setTimeout as sleep } from 'node:timers/promises';
import type { StatsResult } from '../../daemon/control/stats.js';
import { connectToDaemon } from '../daemon-client.js';

export interface StatsOptions {
  env?: NodeJS.ProcessEnv;
}

export async function stats(opts: StatsOptions = {}): Promise<StatsResult> {
  const client = await connectToDaemon(opts.env);
  return client.call('stats', {});
}

/**
 * One result at once, then one per interval until `signal` aborts (or the
 * daemon goes away, which throws). The interval counts from the previous
 * answer, so a slow daemon is never asked twice at once.
 */
export async function* watchStats(intervalMs: number, signal: AbortSignal, opts: StatsOptions = {}): AsyncGenerator<StatsResult> {
  while (!signal.aborted) {
    yield await stats(opts);
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch {
      return; // aborted while waiting
    }
  }
}
