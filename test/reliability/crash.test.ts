// The crash suite's short form (docs/reliability.md "Crashes"): three SIGKILLs
// under concurrent uploads on the seed stack with write-behind filesystem
// tiers and on the filesystem default, about 15 s each on a quiet machine (the
// bound is for a loaded one). The full fifty per stack, and the seed stack
// with memory tiers: test/stress/crash.stress.test.ts.
import { defineCrashSuite } from './crash-suite.js';

defineCrashSuite({
  stacks: [
    { name: 'seed, filesystem tiers', kills: 3 },
    { name: 'filesystem default', kills: 3 },
  ],
  seed: 0xc4a5,
  maxAcksBeforeKill: 25,
  timeoutMs: 240_000,
});
