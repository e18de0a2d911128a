// A started FilesystemStore on throwaway directories, with no eviction policy
// (nothing is ever evicted), no catalog and the system clock. Many test files
// needed exactly this and each wrote it out: a temp dir, content/ and tmp/ in
// it, new, start(), then close() and removal after the test. Tests that need a
// catalog, a clock, an eviction policy or a store they start themselves build
// theirs directly.
import { join } from 'node:path';
import { FilesystemStore, type FilesystemStoreSpec } from '../../src/stores/filesystem-store.js';
import { type Cleanups, tempDir } from './temp-dir.js';

export interface StartedFilesystemStore {
  readonly store: FilesystemStore;
  /** The directory holding content/ (store.contentPath) and tmp/ (store.tempPath). */
  readonly dir: string;
}

export interface StartedFilesystemStoreOptions {
  /** Prefix of the fresh temp dir made for the store; not used with `dir`. */
  prefix?: string;
  /** Puts content/ and tmp/ here instead, in a directory whose removal the caller already arranged. */
  dir?: string;
  /** Spec fields other than the paths and the eviction policy (block_size, read_buffer_size). */
  spec?: Omit<Partial<FilesystemStoreSpec>, 'content_path' | 'temp_path' | 'eviction_policy'>;
}

/**
 * Starts the store and pushes its close to `cleanups`, after the removal of
 * the temp dir it made: run newest first, the store closes before its
 * directory goes.
 */
export async function startedFilesystemStore(
  cleanups: Cleanups,
  options: StartedFilesystemStoreOptions = {},
): Promise<StartedFilesystemStore> {
  const dir = options.dir ?? (await tempDir(options.prefix ?? 'ncache-fs-', cleanups));
  const store = new FilesystemStore({ ...options.spec, content_path: join(dir, 'content'), temp_path: join(dir, 'tmp') });
  await store.start();
  cleanups.push(() => store.close());
  return { store, dir };
}
