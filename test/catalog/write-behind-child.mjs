// Child process for the SIGKILL test: a write-behind fast_slow store whose slow
// tier is unreachable writes blobs one after another and prints "acked <i>"
// after each acknowledgement, until it is killed. Runs the compiled code in dist/.
// Usage: node write-behind-child.mjs <repoRoot> <stateDir> <fastDir>
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, stateDir, fastDir] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(join(root, 'dist', 'src', p)).href);
const { Catalog } = await load('catalog/catalog.js');
const { FastSlowStore } = await load('stores/fast-slow-store.js');
const { FilesystemStore } = await load('stores/filesystem-store.js');
const { putBuffer } = await load('stores/store.js');
const { digestOf } = await load('util/digest.js');
const { unavailable } = await load('util/errors.js');
const { childBlob } = await import('./write-behind-blobs.mjs');

const unreachable = () => {
  throw unavailable('slow tier unreachable (connection refused)');
};
const slow = { kind: 'unreachable', has: unreachable, update: unreachable, getPart: unreachable };

const catalog = Catalog.open(join(stateDir, 'catalog.sqlite'));
const fast = new FilesystemStore({ content_path: join(fastDir, 'c'), temp_path: join(fastDir, 't'), read_buffer_size: 0, block_size: 4096 });
const store = new FastSlowStore(fast, slow, {
  slowWriteMode: 'async',
  catalog,
  storeId: 'CAS',
  slowTier: 'sigkill-test',
  writeBehind: { retryBaseMs: 5, retryMaxMs: 20 },
});
await fast.start();
await store.start();
for (let i = 0; ; i++) {
  const data = childBlob(i);
  await putBuffer(store, digestOf(data), data);
  process.stdout.write(`acked ${i}\n`);
}
