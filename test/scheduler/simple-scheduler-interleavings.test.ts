// The short form of the scheduler interleavings check (test/scheduler/interleavings.ts);
// the long form is test/stress/scheduler-interleavings.stress.test.ts.
import { describe } from 'vitest';
import { defineInterleavings } from './interleavings.js';

describe('SimpleScheduler under random interleavings', () => {
  defineInterleavings({ cases: 10, steps: 120, seed: 0x5c4ed });
});
