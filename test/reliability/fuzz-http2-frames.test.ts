// Short form of the broken-HTTP/2 fuzz (family 3 of docs/reliability.md "Bad
// input"); test/stress/fuzz.stress.test.ts runs the same with thousands of cases.
import { fuzzSuite } from './fuzz/suite.js';

fuzzSuite('truncated and corrupt HTTP/2', { seedBase: 11_000, http2Connections: 400 });
