// The crash suite in full (docs/reliability.md "Crashes"): fifty SIGKILLs per
// stack under concurrent uploads, each followed by a restart on the same state
// dir and stores and every check of test/reliability/crash-checks.ts.
// The short form is test/reliability/crash.test.ts.
import { CRASH_STACK_NAMES } from '../reliability/crash-stacks.js';
import { defineCrashSuite } from '../reliability/crash-suite.js';

defineCrashSuite({ kills: 50, stacks: CRASH_STACK_NAMES, seed: 0x5eed11, timeoutMs: 15 * 60_000 });
