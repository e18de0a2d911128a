// Short form of the config fuzz (family 4 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { fuzzSuite } from './fuzz/suite.js';

fuzzSuite('random config files through the loader', { seedBase: 11_000, configFiles: 600 });
