// Child process for the dedup SIGKILL test: uploads crashBlob(0), (1), ...
// through a DedupStore over filesystem stores with a catalog, printing
// "acked <i>" after each, until it is killed. With a stall point it stops
// forever at blob <stallAt>, printing "stalled <i>" either just before its
// index entry is written (the catalog row is pending) or just after.
// Runs the compiled code in dist/.
// Usage: node dedup-crash-child.mjs <repoRoot> <dir> <run|before-index|after-index> [stallAt]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, dir, mode, stallArg] = process.argv.slice(2);
const stallAt = Number(stallArg ?? -1);
const load = (p) => import(pathToFileURL(join(root, 'dist', 'src', p)).href);
const { Catalog } = await load('catalog/catalog.js');
const { DedupStore } = await load('stores/dedup-store.js');
const { FilesystemStore } = await load('stores/filesystem-store.js');
const { putBuffer } = await load('stores/store.js');
const { digestOf } = await load('util/digest.js');
const { silentLogger } = await load('util/logger.js');
const { systemClock } = await load('util/clock.js');
const { crashBlob, CRASH_SPEC } = await import('./dedup-crash-blobs.mjs');

const fsSpec = (name) => ({ kind: 'filesystem', content_path: join(dir, name, 'content'), temp_path: join(dir, name, 'tmp'), read_buffer_size: 0, block_size: 4096 });
const catalog = Catalog.open(join(dir, 'catalog.sqlite'));
const ctx = { logger: silentLogger, clock: systemClock, storeByName: () => { throw new Error('none'); }, catalog };
const indexFs = new FilesystemStore(fsSpec('index'), { logger: silentLogger, clock: systemClock });
const contentFs = new FilesystemStore(fsSpec('content'), { logger: silentLogger, clock: systemClock });
await indexFs.start();
await contentFs.start();

let stallKey;
const hang = () => {
  setInterval(() => {}, 1 << 30); // keep the process alive until the SIGKILL
  return new Promise(() => {});
};
// The real index store, with a stall point in front of (or behind) one index entry write.
const index = {
  kind: 'filesystem',
  has: (keys) => indexFs.has(keys),
  getPart: (key, offset, length) => indexFs.getPart(key, offset, length),
  remove: (key) => indexFs.remove(key),
  async update(key, source, size) {
    const stalling = stallKey !== undefined && key.hash === stallKey.hash;
    if (stalling && mode === 'before-index') {
      process.stdout.write(`stalled ${stallAt}\n`);
      return hang();
    }
    await indexFs.update(key, source, size);
    if (stalling && mode === 'after-index') {
      process.stdout.write(`stalled ${stallAt}\n`);
      return hang();
    }
  },
};
const store = new DedupStore(CRASH_SPEC, index, contentFs, ctx, 'CAS.dedup');
await store.start();
for (let i = 0; ; i++) {
  const data = crashBlob(i);
  const key = digestOf(data);
  if (i === stallAt) stallKey = key;
  await putBuffer(store, key, data);
  process.stdout.write(`acked ${i}\n`);
}
