// The parts of other modules that gc and verify use: the dedup side of the
// catalog (catalog.dedup) and a store's own files (StoreDriver.localFiles:
// the filesystem store's strays and the temp files of uploads in progress).
import { basename } from 'node:path';
import type { Catalog } from '../catalog/catalog.js';
import type { DedupIndex } from '../catalog/dedup-index.js';
import { parseTempName } from '../stores/filesystem/temp-names.js';
import type { StoreDriver } from '../stores/store.js';
import { digestKey } from '../util/digest.js';

/** The catalog's dedup index (absent only on a closed catalog). */
export type DedupCatalog = DedupIndex;

export function dedupCatalog(catalog: Catalog | undefined): DedupCatalog | undefined {
  return catalog === undefined || catalog.isClosed ? undefined : catalog.dedup;
}

/** Temp files of uploads in progress, as given by the store (names or paths). */
export function activeTemps(store: StoreDriver): ReadonlySet<string> {
  return store.localFiles?.().activeTempFiles() ?? new Set();
}

/** Keys a filesystem store is writing right now (from its temp files' names). */
export function keysBeingWritten(store: StoreDriver): Set<string> {
  const keys = new Set<string>();
  for (const temp of activeTemps(store)) {
    const key = parseTempName(basename(temp));
    if (key !== undefined) keys.add(digestKey(key));
  }
  return keys;
}

/** Whether a temp file (path or name) belongs to an upload in progress. */
export function isActiveTemp(store: StoreDriver, path: string): boolean {
  const active = activeTemps(store);
  return active.has(path) || active.has(basename(path));
}
