// Short form of the resource-name fuzz (family 1 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { fuzzSuite } from './fuzz/suite.js';

fuzzSuite('fuzzed ByteStream resource names', { seedBase: 11_000, resourceNames: 600 });
