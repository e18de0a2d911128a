// The short form of the S3 fault suite (test/reliability/s3-fault-suite.ts): a
// 4-action workspace on the seed stack, one retried failure per operation
// and object for HTTP 500, HTTP 503, a connection reset mid-body and
// SlowDown. The full set, with the 10 s outage and the stall on a larger
// workspace, is test/stress/s3-faults.stress.test.ts.
import { describeS3FaultSuite, resetFault, statusFault } from '../reliability/s3-fault-suite.js';

describeS3FaultSuite({
  testFile: 'test/e2e/s3-faults.test.ts',
  workspace: { actions: 4, bigBytes: 1_000_000 },
  cases: [
    statusFault('HTTP 500', 500, 'InternalError', 1),
    statusFault('HTTP 503', 503, 'ServiceUnavailable', 1),
    resetFault(1),
    statusFault('SlowDown', 503, 'SlowDown', 1),
  ],
  caseTimeoutMs: 4 * 60_000,
});
