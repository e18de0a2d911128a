// The parts of other modules that gc and verify use: the dedup side of the
// catalog (catalog.dedup) and the filesystem store's stray and in-flight temp
// files (reached by shape, so a store without them offers nothing to collect).
import { basename } from 'node:path';
import type { Catalog } from '../catalog/catalog.js';
import type { DedupIndex } from '../catalog/dedup-index.js';
import type { StoreDriver } from '../stores/store.js';
import { parseDigestKey } from '../util/digest.js';

/** The catalog's dedup index (absent only on a closed catalog). */
export type DedupCatalog = DedupIndex;

export function dedupCatalog(catalog: Catalog | undefined): DedupCatalog | undefined {
  return catalog === undefined || catalog.isClosed ? undefined : catalog.dedup;
}

export interface StrayFile {
  readonly path: string;
  readonly size: number;
  readonly kind: 'temp' | 'unindexed';
}

/** The filesystem store's extras for gc (activeTempFiles, strayFiles, its directories). */
export interface FilesystemExtras {
  readonly contentPath: string;
  readonly tempPath: string;
  activeTempFiles?(): ReadonlySet<string>;
  strayFiles?(): AsyncIterable<StrayFile>;
  /** Deletes a reported stray unless an upload made it a real entry meanwhile; true if removed. */
  removeStray?(stray: Pick<StrayFile, 'path' | 'kind'>): Promise<boolean>;
}

export function filesystemExtras(store: StoreDriver): FilesystemExtras | undefined {
  if (store.kind !== 'filesystem') return undefined;
  const fs = store as unknown as Partial<FilesystemExtras>;
  return typeof fs.contentPath === 'string' && typeof fs.tempPath === 'string' ? (fs as FilesystemExtras) : undefined;
}

/** Temp files of uploads in progress, as given by the store (names or paths). */
export function activeTemps(store: StoreDriver): ReadonlySet<string> {
  return filesystemExtras(store)?.activeTempFiles?.() ?? new Set();
}

/** Keys a filesystem store is writing right now (its temp files are "<hash>-<size>.<uuid>.ncache-tmp"). */
export function keysBeingWritten(store: StoreDriver): Set<string> {
  const keys = new Set<string>();
  for (const temp of activeTemps(store)) {
    const name = basename(temp);
    const dot = name.indexOf('.');
    const key = parseDigestKey(dot < 0 ? name : name.slice(0, dot));
    if (key !== undefined) keys.add(`${key.hash}-${key.sizeBytes}`);
  }
  return keys;
}

/** Whether a temp file (path or name) belongs to an upload in progress. */
export function isActiveTemp(store: StoreDriver, path: string): boolean {
  const active = activeTemps(store);
  return active.has(path) || active.has(basename(path));
}
