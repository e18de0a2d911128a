// The table of store kinds: one row per kind saying what every walker of a
// store tree needs to know about it: what it is (a leaf holding values, a
// reference to a named store, a wrapper over one backend, or a split over
// several children), which config fields hold its child stores and what each
// child holds. The schema, the factory, gc/verify's tiers, the warnings and
// the summaries all walk trees through it, so a new kind is its store file,
// its spec in types.ts, its row here and one case in the factory.
//
// Config layer only: nothing here may import src/stores/ (validation must not
// load store implementations or the AWS SDK).
import type { StoreKind, StoreSpec } from './types.js';

/** The spec type of one kind. */
export type SpecOf<K extends StoreKind> = Extract<StoreSpec, { kind: K }>;

/** What a child store holds, seen from its parent. */
export type ChildRole =
  /** The parent's values (all of them, or the share routed to it). */
  | 'values'
  /** A fast_slow's tiers. */
  | 'fast'
  | 'slow'
  /** A dedup store's index entries (one per blob) and its chunks. */
  | 'dedup_index'
  | 'dedup_content'
  /** Another CAS the parent only reads (completeness_checking's cas_store): not the parent's values. */
  | 'cas_lookup';

/** Where a leaf keeps its values: memory and disk are this machine's, remote is shared (S3). */
export type LeafStorage = 'memory' | 'disk' | 'remote' | 'nothing';

/** Fields of spec S that hold one store spec. */
export type StoreField<S> = { [F in keyof S]-?: S[F] extends StoreSpec ? F : never }[keyof S] & string;
/** Fields of spec S that hold a list of `{ store, ... }` entries. */
type StoreListField<S> = { [F in keyof S]-?: S[F] extends readonly { store: StoreSpec }[] ? F : never }[keyof S] & string;

/** A config field holding one child store (`backend`), or a list of entries each holding one (`stores[i].store`). */
export type ChildSlot<S> =
  | { readonly field: StoreField<S>; readonly role: ChildRole; readonly hint: string; read(spec: S): StoreSpec }
  | {
      readonly list: StoreListField<S>;
      readonly role: ChildRole;
      readonly hint: string;
      read(spec: S): readonly StoreSpec[];
    };

export type StoreKindRow<S> =
  /** Holds values itself; `label` replaces the kind in shapes. */
  | { readonly role: 'leaf'; readonly storage: LeafStorage; readonly label?: (spec: S) => string }
  /** Stands for another named store. */
  | { readonly role: 'reference'; readonly label: (spec: S) => string }
  /** Passes every value to its one 'values' child (drawn "kind > child"). */
  | { readonly role: 'wrapper'; readonly children: readonly ChildSlot<S>[] }
  /** Spreads values over several children (drawn "kind(a, b)"). */
  | { readonly role: 'split'; readonly children: readonly ChildSlot<S>[] };

/** A missing row is a compile error: every kind of StoreSpec must be here. */
type StoreKindTable = { readonly [K in StoreKind]: StoreKindRow<SpecOf<K>> };

const STORE = 'a store';

export const STORE_KIND_TABLE: StoreKindTable = {
  memory: { role: 'leaf', storage: 'memory' },
  filesystem: { role: 'leaf', storage: 'disk' },
  experimental_cloud_object_store: { role: 'leaf', storage: 'remote', label: () => 's3' },
  grpc: { role: 'leaf', storage: 'remote', label: (spec) => `grpc ${spec.store_type}` },
  noop: { role: 'leaf', storage: 'nothing' },
  ref_store: { role: 'reference', label: (spec) => `ref ${spec.name}` },
  verify: { role: 'wrapper', children: [{ field: 'backend', role: 'values', hint: STORE, read: (s) => s.backend }] },
  existence_cache: { role: 'wrapper', children: [{ field: 'backend', role: 'values', hint: STORE, read: (s) => s.backend }] },
  compression: { role: 'wrapper', children: [{ field: 'backend', role: 'values', hint: STORE, read: (s) => s.backend }] },
  completeness_checking: {
    role: 'wrapper',
    children: [
      { field: 'backend', role: 'values', hint: STORE, read: (s) => s.backend },
      {
        field: 'cas_store',
        role: 'cas_lookup',
        hint: 'a store, usually { ref_store: { name: "CAS" } }',
        read: (s) => s.cas_store,
      },
    ],
  },
  fast_slow: {
    role: 'split',
    children: [
      { field: 'fast', role: 'fast', hint: STORE, read: (s) => s.fast },
      { field: 'slow', role: 'slow', hint: STORE, read: (s) => s.slow },
    ],
  },
  size_partitioning: {
    role: 'split',
    children: [
      { field: 'lower_store', role: 'values', hint: STORE, read: (s) => s.lower_store },
      { field: 'upper_store', role: 'values', hint: STORE, read: (s) => s.upper_store },
    ],
  },
  // Specs from a config that failed validation may have holes, hence the `?`s.
  shard: { role: 'split', children: [{ list: 'stores', role: 'values', hint: STORE, read: (s) => (s.stores ?? []).map((e) => e?.store) }] },
  dedup: {
    role: 'split',
    children: [
      { field: 'index_store', role: 'dedup_index', hint: STORE, read: (s) => s.index_store },
      { field: 'content_store', role: 'dedup_content', hint: STORE, read: (s) => s.content_store },
    ],
  },
};

/** The row of a kind (typed for that kind's spec). */
export function storeKindRow<K extends StoreKind>(kind: K): StoreKindRow<SpecOf<K>> {
  return STORE_KIND_TABLE[kind];
}
