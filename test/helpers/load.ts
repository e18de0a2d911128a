// Runs the load generator (bench/load) against a real `ncache serve` and checks
// what the load tests promise: no errors, every read right, RSS bounded. The
// figures are logged for docs/reliability.md; wall time is never asserted.
import { expect } from 'vitest';
import { type LoadOptions, type LoadReport, formatLoadReport, runLoad } from '../../bench/load/run.js';
import { RPC_KINDS } from '../../bench/load/workload.js';

/** A generous sanity bound: the daemon's RSS under load stays far below this. */
export const LOAD_RSS_BOUND_BYTES = 1024 * 1024 * 1024;

export async function loadWithoutErrors(opts: LoadOptions): Promise<LoadReport> {
  const report = await runLoad(opts);
  console.log(formatLoadReport(report).join('\n'));
  expect(report.errors).toEqual([]);
  expect(report.errorCount).toBe(0);
  expect(report.readMismatches).toBe(0);
  // Every kind ran and reads were actually checked, so "0 errors" means something.
  for (const kind of RPC_KINDS) expect(report.perKind[kind].count, kind).toBeGreaterThan(0);
  expect(report.readChecks).toBeGreaterThan(0);
  expect(report.daemonRssMaxBytes).toBeLessThan(LOAD_RSS_BOUND_BYTES);
  return report;
}
