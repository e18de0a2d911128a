// The crash suite in full (docs/reliability.md "Crashes"): fifty SIGKILLs on
// each stack the issue names, and twenty on the seed stack with memory tiers,
// under concurrent uploads, each followed by a restart on the same state dir
// and stores and every check of test/reliability/crash-checks.ts.
// The short form is test/reliability/crash.test.ts.
import { defineCrashSuite } from '../reliability/crash-suite.js';

defineCrashSuite({
  stacks: [
    { name: 'seed, filesystem tiers', kills: 50 },
    { name: 'filesystem default', kills: 50 },
    { name: 'seed, memory tiers', kills: 20 },
  ],
  seed: 0x5eed11,
  // Bounded for a loaded 2-core machine; quiet, a stack takes a few minutes.
  timeoutMs: 30 * 60_000,
});
