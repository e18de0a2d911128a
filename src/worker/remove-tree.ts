// Removing an action directory, on libuv's thread pool (fs.promises.rm) so a
// large tree never blocks the event loop. An action may leave a directory
// without write permission (chmod -w on an output tree), which stops a
// non-root worker from deleting what is inside; such directories are made
// writable and the removal tried again. Only directories are chmodded, never
// files: a file may be a hardlink to the cache's own copy.
import { chmod, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const DENIED = new Set(['EACCES', 'EPERM']);

/** Removes `dir` and everything in it (nothing to do when it is already gone). */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    if (!DENIED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
  await makeDirectoriesWritable(dir);
  await rm(dir, { recursive: true, force: true });
}

async function makeDirectoriesWritable(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => undefined);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await makeDirectoriesWritable(join(dir, entry.name));
}
