// SIGKILL while uploads are owed: a child process acknowledges write-behind
// uploads toward an unreachable slow tier and is killed mid-stream; a store
// started on the same catalog and fast tier delivers every acknowledged blob
// to a reachable slow tier.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { readBuffer } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';
import { repoRoot } from '../helpers/daemon-process.js';
import { requireBuilt, runUntilKilled } from '../helpers/kill-child.js';
// @ts-expect-error plain ESM helper shared with the child process
import { childBlob } from './write-behind-blobs.mjs';
import { tempDirPerTest } from '../helpers/temp-dir.js';

const blobOf = childBlob as (i: number) => Buffer;
const ACKS_BEFORE_KILL = 25;

describe('write-behind across a SIGKILL', () => {
  let dir: string;
  tempDirPerTest('ncache-sigkill-', (path) => (dir = path));

  it('delivers every acknowledged blob after a restart', async () => {
    requireBuilt('src/stores/write-behind.js');
    const stateDir = join(dir, 'state');
    const fastDir = join(dir, 'fast');
    const script = fileURLToPath(new URL('./write-behind-child.mjs', import.meta.url));
    // Kill as soon as enough acknowledgements arrived, while the child keeps writing.
    let acked = -1;
    const { signal } = await runUntilKilled(script, [repoRoot(), stateDir, fastDir], (line) => {
      const m = /^acked (\d+)$/.exec(line);
      if (m) acked = Number(m[1]);
      return acked + 1 >= ACKS_BEFORE_KILL;
    });
    expect(signal).toBe('SIGKILL');

    const catalog = Catalog.open(join(stateDir, 'catalog.sqlite'));
    const owed = catalog.journal.summary('CAS').count;
    expect(owed).toBeGreaterThanOrEqual(acked + 1);
    const fast = new FilesystemStore({ content_path: join(fastDir, 'c'), temp_path: join(fastDir, 't'), read_buffer_size: 0, block_size: 4096 });
    const slow = new FilesystemStore({ content_path: join(dir, 'slow', 'c'), temp_path: join(dir, 'slow', 't'), read_buffer_size: 0, block_size: 4096 });
    const store = new FastSlowStore(fast, slow, { slowWriteMode: 'async', catalog, storeId: 'CAS', slowTier: 'sigkill-test' });
    await fast.start();
    await slow.start();
    await store.start();
    await store.drained();
    for (let i = 0; i <= acked; i++) {
      const data = blobOf(i);
      expect((await readBuffer(slow, digestOf(data))).equals(data), `blob ${i}`).toBe(true);
    }
    expect(catalog.journal.summary('CAS').count).toBe(0);
    await store.close();
    await fast.close();
    await slow.close();
    catalog.close();
  });
});
