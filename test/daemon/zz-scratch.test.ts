import { it, expect } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { digestOf } from '../../src/util/digest.js';
import { uploadName, blobName } from '../helpers/grpc-client.js';
import { startFixture } from './fixture.js';
import { createLogger } from '../../src/util/logger.js';
it('big write', async () => {
  const f = await startFixture({ storeKind: 'filesystem', logger: createLogger(undefined, 'debug') });
  try {
    const data = randomBytes(256 * 1024 * 1024);
    for (let i = 0; i < 2; i++) {
      data.writeUInt32BE(i, 0);
      const d = digestOf(data);
      let t = performance.now();
      await f.client.write(uploadName('', d), data, { chunkSize: 1 << 20 });
      console.log('write MB/s', (256 / ((performance.now() - t) / 1000)).toFixed(0));
      t = performance.now();
      const r = await f.client.readCount(blobName('', d));
      console.log('read MB/s', (256 / ((performance.now() - t) / 1000)).toFixed(0), r.messages);
    }
  } finally { await f.stop(); }
}, 120_000);
