// The full-length bad-input fuzz (docs/reliability.md "Bad input"): the same
// four families as test/reliability/fuzz-*.test.ts, thousands of cases each,
// with their own seeds. A failure prints its seed and case index; replay it
// with FUZZ_SEED=<seed> FUZZ_CASE=<index> on this file or the short one.
import { fuzzSuite } from '../reliability/fuzz/suite.js';

fuzzSuite('bad input, full length', { seedBase: 21_000, resourceNames: 4000, rawMessages: 4000, http2Connections: 3000, configFiles: 5000 });
