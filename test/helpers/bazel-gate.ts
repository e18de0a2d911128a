// What every real-Bazel test file shares: without `bazel` on the PATH it is
// skipped loudly on a laptop and FAILS in CI (where .ci/run installs Bazel),
// and the small views of a run that assertions and their messages use.
// Kept apart from bazel.ts, which the benchmarks import outside vitest.
import { describe, expect, it } from 'vitest';
import { type BazelRun, type SpawnRecord, findBazel } from './bazel.js';

/** The bazel binary, or undefined after warning (laptop) or declaring a failing test (CI). */
export function bazelOrSkip(testFile: string, suite: string): string | undefined {
  const bazel = findBazel();
  if (bazel) return bazel;
  if (!process.env.CI) {
    console.warn(
      `\n*** SKIPPING ${testFile}: \`bazel\` is not on PATH. Install Debian's bazel-bootstrap ` +
        '(apt-get install --no-install-recommends bazel-bootstrap) to run it. In CI this is a failure. ***\n',
    );
    return undefined;
  }
  // Declared only when it applies, so a normal run shows no phantom skipped test.
  describe(`${suite} (CI without bazel)`, () => {
    it('requires bazel in CI', () => {
      expect.fail(
        `CI is set but \`bazel\` is not on PATH: ${testFile} must run in CI, not skip. ` +
          '.ci/run installs it (apt-get install bazel-bootstrap) when it is missing.',
      );
    });
  });
  return undefined;
}

/** Spawns Bazel may look up in a remote cache (genrules, the test runner). */
export const cacheable = (spawns: SpawnRecord[]): SpawnRecord[] => spawns.filter((s) => s.remoteCacheable);

/** A stable description of a set of spawns, for comparing two builds. */
export const labels = (spawns: SpawnRecord[]): string[] => spawns.map((s) => `${s.mnemonic}: ${s.progressMessage}`).sort();

/** Bazel's summary and the tail of its stderr, for assertion messages. */
export const describeRun = (run: BazelRun): string =>
  `summary: ${run.summary?.line ?? '(none)'}\n${run.stderr.split('\n').slice(-25).join('\n')}`;

/** "<hash>-<size>" of every non-empty output of a build (the empty blob is never uploaded). */
export function outputNames(run: BazelRun): Set<string> {
  // No execution log means nothing to check against: fail rather than check an empty set.
  if (run.spawns === undefined) throw new Error(`no execution log for this run: ${describeRun(run)}`);
  return new Set(
    run.spawns
      .flatMap((s) => s.actualOutputs)
      .filter((o) => o.digest !== undefined && o.digest.sizeBytes !== '0')
      .map((o) => `${o.digest!.hash}-${o.digest!.sizeBytes}`),
  );
}
