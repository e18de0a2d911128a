// Throwaway directories and the clean-up that removes them after each test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

export interface Cleanups {
  push(cleanup: () => unknown): void;
}

/**
 * Registers an afterEach that runs what the test pushed, newest first (a
 * daemon stops before its directory goes); a failing clean-up does not leave
 * the others undone.
 */
export function cleanupsAfterEach(): Cleanups {
  const pending: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of pending.splice(0).reverse()) await Promise.resolve().then(cleanup).catch(() => {});
  });
  return pending;
}

/** A fresh directory under the OS temp dir whose removal goes to `cleanups`. */
export async function tempDir(prefix: string, cleanups: Cleanups): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** For each test of the enclosing describe (or file): a fresh temp dir handed to `use`, removed after the test. */
export function tempDirPerTest(prefix: string, use: (dir: string) => void): void {
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    use(dir);
  });
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
}
