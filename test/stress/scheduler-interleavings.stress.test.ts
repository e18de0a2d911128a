// The scheduler interleavings check in full (test/scheduler/interleavings.ts):
// many more cases, longer runs. The short form is
// test/scheduler/simple-scheduler-interleavings.test.ts.
import { describe } from 'vitest';
import { defineInterleavings } from '../scheduler/interleavings.js';

describe('SimpleScheduler under random interleavings (full)', () => {
  defineInterleavings({ cases: 300, steps: 300, seed: 0x5c4ed01 });
});
