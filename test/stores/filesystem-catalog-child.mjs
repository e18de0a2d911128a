// Child process for the filesystem index SIGKILL test: a FilesystemStore
// indexed by a real catalog writes blobs (4 at a time; every other one small
// enough to be kept inline in the catalog), reads and removes some,
// evicts by count and flushes access times, printing "wrote <i>" after each
// write, until it is killed. Runs the compiled code in dist/.
// Usage: node filesystem-catalog-child.mjs <repoRoot> <stateDir> <storeDir> <firstBlob>
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deterministicBytes } from '../helpers/deterministic-bytes.mjs';
import { childBlob as fileSizedBlob } from '../catalog/write-behind-blobs.mjs';

const [root, stateDir, storeDir, firstBlob] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(join(root, 'dist', 'src', p)).href);
const { Catalog } = await load('catalog/catalog.js');
const { FilesystemStore } = await load('stores/filesystem-store.js');
const { putBuffer, readBuffer } = await load('stores/store.js');
const { digestOf } = await load('util/digest.js');

const catalog = Catalog.open(join(stateDir, 'catalog.sqlite'));
const store = new FilesystemStore(
  {
    content_path: join(storeDir, 'content'),
    temp_path: join(storeDir, 'tmp'),
    block_size: 4096,
    eviction_policy: { max_bytes: 0, evict_bytes: 0, max_seconds: 0, max_count: 40 },
  },
  { catalog },
  'CAS',
);
await store.start();

/** Odd blobs are at most 8 KiB (kept inline), even ones mostly files. */
const childBlob = (i) => (i % 2 === 1 ? deterministicBytes(1 + ((i * 7919) % 8192), i) : fileSizedBlob(i));

let next = Number(firstBlob);
async function worker() {
  for (;;) {
    const i = next++;
    const data = childBlob(i);
    await putBuffer(store, digestOf(data), data);
    if (i % 5 === 0 && i >= 5) await readBuffer(store, digestOf(childBlob(i - 5))).catch(() => undefined);
    if (i % 7 === 0 && i >= 3) await store.remove(digestOf(childBlob(i - 3)));
    if (i % 11 === 0) await store.flushAtimes();
    process.stdout.write(`wrote ${i}\n`);
  }
}
await Promise.all([worker(), worker(), worker(), worker()]);
