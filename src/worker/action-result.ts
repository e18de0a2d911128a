// Small pieces of the ActionResult the worker builds: timestamps, and
// whether a result goes to the action cache under upload_ac_results_strategy.
import type { UploadResultsStrategy } from '../config/types.js';
import type { Timestamp } from '../proto/reapi.js';

export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/**
 * Whether a completed run's result is written to the action cache. Only runs
 * that ended on their own are candidates (never a timeout or an error), and
 * never an action marked do_not_cache.
 */
export function shouldCacheResult(strategy: UploadResultsStrategy, exitCode: number, doNotCache: boolean): boolean {
  if (doNotCache) return false;
  switch (strategy) {
    case 'success_only':
      return exitCode === 0;
    case 'failures_only':
      return exitCode !== 0;
    case 'everything':
      return true;
    case 'never':
      return false;
  }
}
