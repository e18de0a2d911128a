// The full S3 fault suite (test/reliability/s3-fault-suite.ts), run by `npm run
// test:stress`: a 12-action workspace with an 8 MB output on the seed stack;
// a no-fault baseline first (build times to compare with), then HTTP 500,
// HTTP 503, connection resets mid-body and SlowDown on the first attempts of
// every operation on every object, a stall that S3 never ends, and a 10 s
// outage from each build's first S3 request. Figures: docs/reliability.md, "S3 faults".
import { describeS3FaultSuite, outageFault, resetFault, stallFault, statusFault } from '../reliability/s3-fault-suite.js';

describeS3FaultSuite({
  testFile: 'test/stress/s3-faults.stress.test.ts',
  workspace: { actions: 12, bigBytes: 8_000_000 },
  cases: [
    { name: 'no fault (baseline)' },
    statusFault('HTTP 500', 500, 'InternalError', 2),
    statusFault('HTTP 503', 503, 'ServiceUnavailable', 2),
    resetFault(1),
    statusFault('SlowDown', 503, 'SlowDown', 2),
    stallFault(1),
    outageFault(10_000),
  ],
  caseTimeoutMs: 10 * 60_000,
});
