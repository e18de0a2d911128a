// Short form of the raw-message fuzz (family 2 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { fuzzSuite } from './fuzz/suite.js';

fuzzSuite('random bytes as request messages on every RPC', { seedBase: 11_000, rawMessages: 700 });
