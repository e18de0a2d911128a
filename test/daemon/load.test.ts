// The load test's short form (50 clients x 10 s) for `npm test`; the full
// 200 x 60 s run is test/stress/load.stress.test.ts. Needs `npm run build`
// (the daemon and the load generators run compiled, as separate processes).
import { describe, it } from 'vitest';
import { loadWithoutErrors } from '../helpers/load.js';

describe('under load (short form)', () => {
  it('50 concurrent clients for 10 s: a bounded mix of every cache RPC, 0 errors, every read right, RSS bounded', async () => {
    await loadWithoutErrors({ clients: 50, seconds: 10 });
  }, 180_000);
});
