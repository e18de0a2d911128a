// SIGKILL while uploads are owed: a child process acknowledges write-behind
// uploads toward an unreachable slow tier and is killed mid-stream; a store
// started on the same catalog and fast tier delivers every acknowledged blob
// to a reachable slow tier.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { FastSlowStore } from '../../src/stores/fast-slow-store.js';
import { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { readBuffer } from '../../src/stores/store.js';
import { digestOf } from '../../src/util/digest.js';
import { repoRoot } from '../helpers/daemon-process.js';
// @ts-expect-error plain ESM helper shared with the child process
import { childBlob } from './write-behind-blobs.mjs';

const blobOf = childBlob as (i: number) => Buffer;
const ACKS_BEFORE_KILL = 25;

describe('write-behind across a SIGKILL', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ncache-sigkill-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers every acknowledged blob after a restart', async () => {
    const root = repoRoot();
    if (!existsSync(join(root, 'dist', 'src', 'stores', 'write-behind.js'))) {
      throw new Error('dist/ is not built: run npx tsc -p tsconfig.json first (the child process runs the compiled code)');
    }
    const stateDir = join(dir, 'state');
    const fastDir = join(dir, 'fast');
    const script = fileURLToPath(new URL('./write-behind-child.mjs', import.meta.url));
    const child = spawn(process.execPath, [script, root, stateDir, fastDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

    // Kill as soon as enough acknowledgements arrived, while the child keeps writing.
    let acked = -1;
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => {
        buffer += s;
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          const m = /^acked (\d+)$/.exec(line);
          if (m) acked = Number(m[1]);
        }
        if (acked + 1 >= ACKS_BEFORE_KILL) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`child exited early: ${stderr}`)));
    });
    expect(await exited).toBe('SIGKILL');

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
