// `ls`: what the CAS and action cache hold. One row per key, merged across
// the local tiers that list themselves (memory, filesystem), with the tiers
// holding it: "fast"/"slow" below a fast_slow, else the store kind. A slow
// tier in S3 is not listed (a bucket listing per `ls` would be slow and
// costly); blobs it is known to hold come from the catalog's presence
// knowledge. A dedup store lists its blobs (with their chunk counts) from the
// catalog, and its index store tells where the index entries live.
//
// The merge needs every key in memory anyway (a key in two tiers is one
// row), so the daemon sorts and applies --limit and sends only the rows asked
// for, as items, so a big listing streams instead of being one huge frame.
import { type PresenceReader, openPresenceReader } from '../../catalog/slow-tier-presence.js';
import { leafStorage } from '../../config/store-tree.js';
import type { NamedStoreSpec, StoreSpec } from '../../config/types.js';
import type { StoreEntry } from '../../stores/store.js';
import { type Digest, digestKey } from '../../util/digest.js';
import type { LsParams } from './api.js';
import { type StoreNode, storeTree, storesByRole } from './store-nodes.js';
import type { ControlContext, ControlOutput } from './types.js';

export type LsKind = 'cas' | 'ac';
export type LsSort = 'size' | 'atime' | 'name';

export interface LsEntry {
  readonly type: LsKind;
  /** The named store (config `stores[].name`). */
  readonly store: string;
  /** "<hash>/<size>", as `ncache get` takes it. */
  readonly digest: string;
  readonly hash: string;
  readonly sizeBytes: number;
  /** Bytes of the value as clients see it (the blob; for the action cache the ActionResult). */
  readonly size: number;
  /** Bytes it occupies in the first local tier holding it (after compression); null when only known remotely. */
  readonly storedSize: number | null;
  /** Tiers holding it: "fast", "slow", or a store kind ("filesystem", "memory") outside a fast_slow. */
  readonly tiers: string[];
  /** Last access, ms since the epoch; null when unknown (only in the slow tier). */
  readonly lastAccessMs: number | null;
  /** Chunks of a deduplicated blob. */
  readonly chunkCount?: number;
}

export interface LsResult {
  /** Rows sent (after --limit). */
  readonly count: number;
  /** Rows before --limit. */
  readonly total: number;
  readonly stores: { readonly name: string; readonly type: LsKind }[];
}

interface Row {
  key: Digest;
  size: number;
  storedSize: number | null;
  tiers: Set<string>;
  lastAccessMs: number | null;
  chunkCount?: number;
}

type RowMap = Map<string, Row>;

/** Leaves whose entries are listed: this machine's (memory, disk). Remote leaves show through catalog knowledge (see above); references are listed as their own named store. */
function listsEntries(spec: StoreSpec): boolean {
  const storage = leafStorage(spec);
  return storage === 'memory' || storage === 'disk';
}

export type LsContext = Pick<ControlContext, 'config' | 'stores' | 'catalog'>;

export async function lsMethod(params: LsParams, ctx: LsContext, out: Pick<ControlOutput<LsEntry>, 'item' | 'signal'>): Promise<LsResult> {
  const kinds: LsKind[] = params.type === undefined || params.type === 'all' ? ['cas', 'ac'] : [params.type];
  const sort = params.sort ?? 'name';
  const { limit } = params;
  const roles = storesByRole(ctx.config);
  const rows: LsEntry[] = [];
  const listed: LsResult['stores'] = [];
  const presence = openPresenceReader(ctx.catalog.path);
  try {
    for (const type of kinds) {
      for (const named of roles[type]) {
        if (out.signal.aborted) break;
        listed.push({ name: named.name, type });
        for (const row of (await collectRows(ctx, named, presence)).values()) rows.push(toEntry(row, type, named.name));
      }
    }
  } finally {
    presence?.close();
  }
  sortEntries(rows, sort);
  const sent = limit === undefined ? rows : rows.slice(0, limit);
  for (const entry of sent) {
    if (out.signal.aborted) break;
    out.item(entry);
  }
  return { count: sent.length, total: rows.length, stores: listed };
}

/** Every key of a named store, merged across its tiers; with `onlyHash`, just the keys with that hash. */
export async function collectRows(
  ctx: Pick<ControlContext, 'stores'>,
  named: NamedStoreSpec,
  presence: PresenceReader | undefined,
  onlyHash?: string,
): Promise<RowMap> {
  const rows: RowMap = new Map();
  await collect(storeTree(ctx.stores, named), rows, presence, onlyHash);
  return rows;
}

async function collect(node: StoreNode, rows: RowMap, presence: PresenceReader | undefined, onlyHash: string | undefined): Promise<void> {
  const driver = node.driver;
  if (driver.kind === 'dedup' && driver.entries) {
    // Where each blob's index entry lives tells its tiers; the blobs themselves come from the catalog.
    const index = new Map<string, Row>();
    const indexNode = node.children.find((c) => c.holds === 'dedup_index') ?? node.children[0];
    if (indexNode !== undefined) await collect(indexNode, index, presence, onlyHash);
    for await (const entry of driver.entries()) {
      if (onlyHash !== undefined && entry.key.hash !== onlyHash) continue;
      const where = index.get(digestKey(entry.key));
      merge(rows, entry, where?.tiers ?? new Set(['dedup']));
      const row = rows.get(digestKey(entry.key));
      if (row !== undefined && entry.chunkCount !== undefined) row.chunkCount = entry.chunkCount;
    }
    return;
  }
  if (node.children.length === 0) {
    if (!listsEntries(node.spec) || !driver.entries) return;
    const label = new Set([node.tier ?? driver.kind]);
    for await (const entry of driver.entries()) {
      if (onlyHash !== undefined && entry.key.hash !== onlyHash) continue;
      merge(rows, entry, label);
    }
    return;
  }
  for (const child of node.children) {
    // A CAS the parent only looks things up in (completeness_checking's cas_store) is not part of this store.
    if (child.holds === 'cas_lookup') continue;
    await collect(child, rows, presence, onlyHash);
  }
  if (driver.kind === 'fast_slow' && presence !== undefined) {
    for (const p of presence.rows(node.path, onlyHash)) {
      const key = { hash: p.hash, sizeBytes: p.key_size };
      const name = digestKey(key);
      const row = rows.get(name);
      if (row !== undefined) row.tiers.add('slow');
      else rows.set(name, { key, size: p.value_size, storedSize: null, tiers: new Set(['slow']), lastAccessMs: null });
    }
  }
}

function merge(rows: RowMap, entry: StoreEntry, tiers: ReadonlySet<string>): void {
  const name = digestKey(entry.key);
  const row = rows.get(name);
  if (row === undefined) {
    rows.set(name, {
      key: entry.key,
      size: entry.size,
      storedSize: entry.storedSize ?? entry.size,
      tiers: new Set(tiers),
      lastAccessMs: entry.lastAccessMs ?? null,
    });
    return;
  }
  for (const t of tiers) row.tiers.add(t);
  if (entry.lastAccessMs !== undefined && (row.lastAccessMs === null || entry.lastAccessMs > row.lastAccessMs)) {
    row.lastAccessMs = entry.lastAccessMs;
  }
  row.storedSize ??= entry.storedSize ?? entry.size;
}

const TIER_ORDER = ['fast', 'slow'];

function toEntry(row: Row, type: LsKind, store: string): LsEntry {
  const tiers = [...row.tiers].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return {
    type,
    store,
    digest: `${row.key.hash}/${row.key.sizeBytes}`,
    hash: row.key.hash,
    sizeBytes: row.key.sizeBytes,
    // A CAS key's size is the blob's; an AC value has its own size.
    size: type === 'cas' ? row.key.sizeBytes : row.size,
    storedSize: row.storedSize,
    tiers,
    lastAccessMs: row.lastAccessMs,
    ...(row.chunkCount !== undefined ? { chunkCount: row.chunkCount } : {}),
  };
}

function rank(tier: string): number {
  const i = TIER_ORDER.indexOf(tier);
  return i === -1 ? TIER_ORDER.length : i;
}

/** size: largest first; atime: most recently used first (unknown last); name: by hash. Ties by digest. */
export function sortEntries(rows: LsEntry[], sort: LsSort): void {
  const byName = (a: LsEntry, b: LsEntry) =>
    a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : a.sizeBytes - b.sizeBytes || a.type.localeCompare(b.type);
  if (sort === 'size') rows.sort((a, b) => b.size - a.size || byName(a, b));
  else if (sort === 'atime') rows.sort((a, b) => (b.lastAccessMs ?? -1) - (a.lastAccessMs ?? -1) || byName(a, b));
  else rows.sort(byName);
}
