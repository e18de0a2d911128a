// Issue 11's load proof, full length: 200 concurrent gRPC clients for 60 s
// against `ncache serve` with the default filesystem config. Run with
// `npm run test:stress`; the short form is test/daemon/load.test.ts.
import { describe, it } from 'vitest';
import { loadWithoutErrors } from '../helpers/load.js';

describe('under load', () => {
  it('200 concurrent clients for 60 s: a bounded mix of every cache RPC, 0 errors, every read right, RSS bounded', async () => {
    await loadWithoutErrors({ clients: 200, seconds: 60 });
  }, 10 * 60_000);
});
