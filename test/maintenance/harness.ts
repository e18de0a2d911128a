// A daemon's stores without the daemon, for the gc and verify algorithm tests:
// a config parsed by the real loader, a real StoreManager over real files in a
// temp dir, a real catalog, and a clock the test moves by hand.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { parseConfigText } from '../../src/config/load.js';
import type { NcacheConfig } from '../../src/config/types.js';
import type { PinRegistry } from '../../src/maintenance/pins.js';
import { StoreManager } from '../../src/stores/factory.js';
import { loadStoreKinds } from '../../src/stores/optional-kinds.js';
import { putBuffer, type StoreDriver } from '../../src/stores/store.js';
import { ManualClock } from '../../src/util/clock.js';
import { type Digest, digestKey, digestOf } from '../../src/util/digest.js';
import { silentLogger } from '../../src/util/logger.js';

export interface World {
  readonly dir: string;
  readonly config: NcacheConfig;
  readonly stores: StoreManager;
  readonly catalog: Catalog;
  readonly clock: ManualClock;
  close(): Promise<void>;
}

/** Builds and starts the stores of `config` (a config object; "${DIR}" in strings is the temp dir). */
export async function openWorld(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'ncache-maint-'));
  const text = JSON.stringify(config).replaceAll('${DIR}', dir);
  const parsed = parseConfigText(text, '<test>', { HOME: dir, ...env });
  const clock = new ManualClock(1_700_000_000_000);
  const catalog = Catalog.open(join(dir, 'state', 'catalog.sqlite'), { clock });
  await loadStoreKinds(parsed.stores.map((s) => s.spec));
  const stores = new StoreManager(parsed.stores, { logger: silentLogger, clock, catalog, env });
  await stores.start();
  return {
    dir,
    config: parsed,
    stores,
    catalog,
    clock,
    async close() {
      await stores.close();
      catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers an afterEach that closes every world its test opened (removing
 * the directory); returns the opener to use in place of openWorld.
 */
export function worldsClosedAfterEach(): (config: Record<string, unknown>, env?: NodeJS.ProcessEnv) => Promise<World> {
  const open: World[] = [];
  afterEach(async () => {
    for (const w of open.splice(0)) await w.close();
  });
  return async (config, env) => {
    const w = await openWorld(config, env);
    open.push(w);
    return w;
  };
}

/** A filesystem store in the world's directory (`${DIR}/<name>/content` and `/tmp`), with `fields` added. */
export function filesystemAt(name: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { filesystem: { content_path: `\${DIR}/${name}/content`, temp_path: `\${DIR}/${name}/tmp`, ...fields } };
}

/** What runGc and runVerify take from a running daemon, taken from the world. */
export function maintenanceDeps(w: World, pins?: PinRegistry) {
  return { config: w.config, stores: w.stores, catalog: w.catalog, clock: w.clock, pins };
}

/** A server entry serving `cas` as CAS (and ByteStream) and `ac` as action cache. */
export function servers(cas: string, ac?: string): Record<string, unknown>[] {
  return [
    {
      listener: { http: { socket_address: '127.0.0.1:0' } },
      services: {
        cas: [{ instance_name: '', cas_store: cas }],
        bytestream: { cas_stores: { '': cas } },
        ...(ac !== undefined ? { ac: [{ instance_name: '', ac_store: ac }] } : {}),
      },
    },
  ];
}

/** Stores `data` under its digest and returns the digest. */
export async function putBlob(store: StoreDriver, data: Buffer): Promise<Digest> {
  const key = digestOf(data);
  await putBuffer(store, key, data);
  return key;
}

/**
 * Flips bits of a value where its filesystem store (content under
 * `${dir}/<name>/content`) keeps it: in its file, or, for a small value kept
 * inline, in its catalog row. `at` picks the byte from the value's length.
 */
export function damageStoredValue(w: World, name: string, key: Digest, at: (length: number) => number, mask: number): void {
  const file = join(w.dir, name, 'content', digestKey(key));
  if (existsSync(file)) {
    const bytes = readFileSync(file);
    bytes[at(bytes.length)]! ^= mask;
    writeFileSync(file, bytes);
    return;
  }
  const db = new Database(w.catalog.path);
  try {
    const where = 'WHERE hash = ? AND key_size = ?';
    const data = db.prepare(`SELECT data FROM store_inline_values ${where}`).pluck().get(key.hash, key.sizeBytes) as Buffer | undefined;
    if (data === undefined) throw new Error(`${digestKey(key)} is neither a file under ${name} nor inline in the catalog`);
    data[at(data.length)]! ^= mask;
    db.prepare(`UPDATE store_inline_values SET data = ? ${where}`).run(data, key.hash, key.sizeBytes);
  } finally {
    db.close();
  }
}
