// The daemon and its catalog: opened under the state directory when a
// fast_slow store needs it, write-behind through real gRPC uploads, backlog in
// stats(), owed uploads resumed by the next daemon on the same state.
import { stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { FilesystemStore } from '../../src/stores/filesystem-store.js';
import { readBuffer } from '../../src/stores/store.js';
import type { StoreStats } from '../../src/stores/store-stats.js';
import type { WriteBehindStats } from '../../src/stores/write-behind.js';
import { digestOf } from '../../src/util/digest.js';
import { ReapiClient } from '../helpers/grpc-client.js';
import { cleanupsAfterEach, tempDir as makeTempDir } from '../helpers/temp-dir.js';

const cleanups = cleanupsAfterEach();

const tempDir = () => makeTempDir('ncache-daemon-catalog-', cleanups);

/** CAS = fast_slow(filesystem, filesystem) written behind; `slowDir` may be unusable to make uploads fail. */
function configText(dir: string, slowContent: string, mode: 'sync' | 'async' = 'async'): string {
  const fs = (content: string, temp: string) => ({ filesystem: { content_path: content, temp_path: temp } });
  return JSON.stringify({
    stores: [
      {
        name: 'CAS',
        fast_slow: {
          fast: fs(join(dir, 'fast', 'c'), join(dir, 'fast', 't')),
          slow: fs(slowContent, join(dir, 'slow', 't')),
          slow_write_mode: mode,
        },
      },
      { name: 'AC', memory: {} },
    ],
    servers: [
      {
        listener: { http: { socket_address: '127.0.0.1:0' } },
        services: { cas: [{ cas_store: 'CAS' }], ac: [{ ac_store: 'AC' }], bytestream: { cas_stores: { '': 'CAS' } } },
      },
    ],
  });
}

function backlog(stats: Record<string, StoreStats[]>): WriteBehindStats | undefined {
  const root = stats.CAS?.[0];
  return root?.kind === 'fast_slow' ? root.writeBehind : undefined;
}

describe('daemon catalog', () => {
  it('opens <stateDir>/catalog.sqlite (dir 0700), uploads behind, and reports the backlog', async () => {
    const dir = await tempDir();
    const stateDir = join(dir, 'state');
    const config = parseConfigText(configText(dir, join(dir, 'slow', 'c')), 'test.json5', {});
    const daemon = await startDaemon({ config, stateDir });
    cleanups.push(() => daemon.stop({ graceMs: 1000 }));
    expect(daemon.catalogPath).toBe(join(stateDir, 'catalog.sqlite'));
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    const client = new ReapiClient(daemon.addresses[0]!);
    cleanups.push(async () => client.close());
    const data = Buffer.alloc(100_000, 7);
    const digest = await client.uploadBlob(data);
    expect(backlog(daemon.stats())).toHaveProperty('backlogCount');
    await daemon.stop({ graceMs: 1000 }); // close() flushes what is owed
    const slow = new FilesystemStore({ content_path: join(dir, 'slow', 'c'), temp_path: join(dir, 'slow', 't2') });
    await slow.start();
    expect((await readBuffer(slow, digest)).equals(data)).toBe(true);
    await slow.close();
    expect(digestOf(data)).toEqual(digest);
  });

  it('takes the state dir from NCACHE_STATE_DIR, else NCACHE_CACHE_DIR, when none is given', async () => {
    const dir = await tempDir();
    const config = parseConfigText(configText(dir, join(dir, 'slow', 'c'), 'sync'), 'test.json5', {});
    const a = await startDaemon({ config, env: { NCACHE_STATE_DIR: join(dir, 'from-state-env') } });
    await a.stop({ graceMs: 1000 });
    expect(a.catalogPath).toBe(join(dir, 'from-state-env', 'catalog.sqlite'));
    const b = await startDaemon({ config, env: { NCACHE_CACHE_DIR: join(dir, 'from-cache-env') } });
    await b.stop({ graceMs: 1000 });
    expect(b.catalogPath).toBe(join(dir, 'from-cache-env', 'catalog.sqlite'));
    expect(existsSync(b.catalogPath)).toBe(true);
  });

  it('opens a catalog for every config, also one without fast_slow stores', async () => {
    const dir = await tempDir();
    const stateDir = join(dir, 'state');
    const text = JSON.stringify({
      stores: [{ name: 'CAS', memory: {} }],
      servers: [{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { cas: [{ cas_store: 'CAS' }] } }],
    });
    const daemon = await startDaemon({ config: parseConfigText(text, 'test.json5', {}), stateDir });
    cleanups.push(() => daemon.stop({ graceMs: 1000 }));
    expect(daemon.catalogPath).toBe(join(stateDir, 'catalog.sqlite'));
    expect(existsSync(daemon.catalogPath)).toBe(true);
    expect(daemon.catalog.isClosed).toBe(false);
    await daemon.stop({ graceMs: 1000 });
    expect(daemon.catalog.isClosed).toBe(true);
  });
});
