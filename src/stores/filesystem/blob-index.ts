// The filesystem store's in-memory index: each blob's stored size, charged
// size and last access, in LRU order, under NativeLink's eviction policy
// (the same semantics as util/eviction.ts's EvictingMap).
//
// It lives in typed arrays, not in objects and strings. As a Map of
// "<hash>-<size>" keys to objects a blob cost about 360 bytes of live heap
// and, with V8's garbage and fragmentation, about 1 KB of a restarted
// daemon's RSS, so a cache of a million blobs idled near 1 GB; here it is
// about 100-120 bytes, and the garbage collector has nothing per blob to trace.
//
// A blob is a record number. Its SHA-256 is kept as 8 words; an
// open-addressing table (linear probing, deletion by backward shift, so no
// tombstones) maps a seeded hash of the digest to the record; the LRU order is
// a doubly linked list through `older`/`newer`; freed records are reused. The
// arrays double as the store grows and never shrink: a store that once held
// N blobs keeps room for N.
import type { EvictionPolicy } from '../../config/types.js';
import type { Clock } from '../../util/clock.js';
import type { Digest } from '../../util/digest.js';
import { type EvictReason, NO_EVICTION, type PolicyTarget, applyEvictionPolicy, isPastMaxAge } from '../../util/eviction.js';

/** What the index knows of a blob, copied out (the index's arrays are never handed out). */
export interface IndexedBlob {
  readonly key: Digest;
  /** Bytes in the file (what has() reports). */
  readonly storedSize: number;
  /** Bytes charged against max_bytes. */
  readonly chargedSize: number;
  /** Last access, ms since the epoch (from the injected clock). */
  readonly lastAccessMs: number;
  /** Different for every set(): tells a blob replaced meanwhile from the one seen earlier. */
  readonly version: number;
  /** The bytes are kept inline in the catalog, not in a file. */
  readonly inline: boolean;
}

/** A lookup's answer, without the key (the caller has it). */
export type BlobHit = Omit<IndexedBlob, 'key'>;

export interface BlobIndexOptions {
  policy?: EvictionPolicy | undefined;
  clock: Clock;
  /** Called after a blob left the index because of the policy (not for delete() or replacement). */
  onEvict?: (blob: IndexedBlob, reason: EvictReason) => void;
}

const HASH_WORDS = 8;
const HEX_CHARS = 64;
const NONE = -1;
const INITIAL_RECORDS = 1024;

/** Nibble value of each char code, -1 for anything but lowercase hex (digests are lowercase). */
const NIBBLES = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) NIBBLES[48 + c] = c;
for (let c = 0; c < 6; c++) NIBBLES[97 + c] = 10 + c;

export class BlobIndex {
  private readonly policy: EvictionPolicy;
  private readonly clock: Clock;
  private readonly onEvict: ((blob: IndexedBlob, reason: EvictReason) => void) | undefined;
  /** Random per index, so clients cannot choose digests that all probe the same slots. */
  private readonly seed = (Math.random() * 0x1_0000_0000) >>> 0;

  // Per record.
  private hashWords = new Uint32Array(INITIAL_RECORDS * HASH_WORDS);
  private keySizes = new Float64Array(INITIAL_RECORDS);
  private storedSizes = new Float64Array(INITIAL_RECORDS);
  private chargedSizes = new Float64Array(INITIAL_RECORDS);
  private accessMs = new Float64Array(INITIAL_RECORDS);
  private versions = new Float64Array(INITIAL_RECORDS);
  /** 1 for a blob kept inline in the catalog. */
  private inlineFlags = new Uint8Array(INITIAL_RECORDS);
  /** The slot hash of each record, so the table can be rebuilt and shifted without rehashing. */
  private slotHashes = new Int32Array(INITIAL_RECORDS);
  private older = new Int32Array(INITIAL_RECORDS);
  /** Also chains free records. */
  private newer = new Int32Array(INITIAL_RECORDS);

  /** Record number + 1 per slot, 0 for an empty slot; at most half full. */
  private table = new Int32Array(INITIAL_RECORDS * 2);
  private oldest = NONE;
  private newest = NONE;
  private freeRecords = NONE;
  /** Records ever handed out (the free list holds the released ones below this). */
  private highWater = 0;
  private live = 0;
  private totalBytes = 0;
  private evictedCount = 0;
  private nextVersion = 1;
  /** The digest being looked up, decoded (reused: lookups never nest). */
  private readonly probe = new Uint32Array(HASH_WORDS);
  private readonly lru: PolicyTarget<number> = {
    oldest: () => (this.oldest === NONE ? undefined : this.oldest),
    lastAccessMs: (record) => this.accessMs[record]!,
    bytes: () => this.totalBytes,
    count: () => this.live,
    evict: (record, reason) => this.evict(record, reason),
  };

  constructor(options: BlobIndexOptions) {
    this.policy = options.policy ?? NO_EVICTION;
    this.clock = options.clock;
    this.onEvict = options.onEvict;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get count(): number {
    return this.live;
  }

  /** How many blobs the policy has evicted so far. */
  get evictions(): number {
    return this.evictedCount;
  }

  get maxBytes(): number {
    return this.policy.max_bytes;
  }

  /** Looks up a blob and marks it most recently used. Expired blobs are evicted, not returned. */
  get(key: Digest): BlobHit | undefined {
    const record = this.lookup(key);
    if (record === NONE) return undefined;
    this.accessMs[record] = this.clock.now();
    this.unlink(record);
    this.append(record);
    return this.hitOf(record);
  }

  /** Looks up a blob without changing its recency. Expired blobs are evicted, not returned. */
  peek(key: Digest): BlobHit | undefined {
    const record = this.lookup(key);
    return record === NONE ? undefined : this.hitOf(record);
  }

  /**
   * Inserts or replaces `key` as the most recently used blob, then evicts
   * whatever the policy requires (possibly this very blob, if it alone is
   * over the byte budget). `lastAccessMs` lets a store rebuild its order after
   * a restart: callers restoring blobs must insert them oldest first.
   */
  set(key: Digest, storedSize: number, chargedSize: number, lastAccessMs = this.clock.now(), inline = false): void {
    if (!this.decode(key.hash)) throw new Error(`blob index: ${JSON.stringify(key.hash)} is not a lowercase SHA-256`);
    const slotHash = this.slotHash(key.sizeBytes);
    let record = this.find(slotHash, key.sizeBytes);
    if (record === NONE) {
      record = this.allocate();
      this.hashWords.set(this.probe, record * HASH_WORDS);
      this.keySizes[record] = key.sizeBytes;
      this.slotHashes[record] = slotHash;
      this.place(record);
      this.live += 1;
    } else {
      this.totalBytes -= this.chargedSizes[record]!;
      this.unlink(record);
    }
    this.storedSizes[record] = storedSize;
    this.chargedSizes[record] = chargedSize;
    this.accessMs[record] = lastAccessMs;
    this.versions[record] = this.nextVersion++;
    this.inlineFlags[record] = inline ? 1 : 0;
    this.append(record);
    this.totalBytes += chargedSize;
    this.evictAsNeeded();
  }

  /** Removes a blob without calling onEvict. Returns whether it was there. */
  delete(key: Digest): boolean {
    if (!this.decode(key.hash)) return false;
    const record = this.find(this.slotHash(key.sizeBytes), key.sizeBytes);
    if (record === NONE) return false;
    this.remove(record);
    return true;
  }

  /** Applies the policy now (expired blobs and limits); stores call this periodically. */
  sweep(): void {
    this.evictAsNeeded();
  }

  /**
   * Blobs from least to most recently used, as they are when the iteration
   * starts (their order is taken then: the caller may change the index
   * meanwhile). A blob deleted or replaced before its turn is skipped. Does
   * not touch recency.
   */
  *entries(): Generator<IndexedBlob> {
    const order = new Int32Array(this.live);
    const versions = new Float64Array(this.live);
    let n = 0;
    for (let r = this.oldest; r !== NONE; r = this.newer[r]!) {
      order[n] = r;
      versions[n] = this.versions[r]!;
      n += 1;
    }
    for (let i = 0; i < n; i++) {
      const record = order[i]!;
      if (this.versions[record] === versions[i]) yield this.blobOf(record);
    }
  }

  // ---------------------------------------------------------------------------
  // Lookup

  /** The live, unexpired record of `key`, or NONE (an expired one is evicted). */
  private lookup(key: Digest): number {
    if (!this.decode(key.hash)) return NONE;
    const record = this.find(this.slotHash(key.sizeBytes), key.sizeBytes);
    if (record === NONE) return NONE;
    if (isPastMaxAge(this.policy, this.accessMs[record]!, this.clock.now())) {
      this.evict(record, 'age');
      return NONE;
    }
    return record;
  }

  /** Decodes a 64-character lowercase hex hash into `probe`; false if it is not one. */
  private decode(hash: string): boolean {
    if (hash.length !== HEX_CHARS) return false;
    const probe = this.probe;
    for (let w = 0; w < HASH_WORDS; w++) {
      let word = 0;
      for (let i = w * 8, end = i + 8; i < end; i++) {
        const code = hash.charCodeAt(i);
        const nibble = code < 128 ? NIBBLES[code]! : -1;
        if (nibble < 0) return false;
        word = (word << 4) | nibble;
      }
      probe[w] = word >>> 0;
    }
    return true;
  }

  /** A seeded mix of the decoded hash and the size (SHA-256 is uniform, but clients choose AC keys). */
  private slotHash(sizeBytes: number): number {
    let h = this.seed ^ Math.imul(sizeBytes | 0, 0x85ebca6b);
    for (let w = 0; w < HASH_WORDS; w++) {
      h = Math.imul(h ^ this.probe[w]!, 0x9e3779b1);
      h ^= h >>> 15;
    }
    return h | 0;
  }

  /** The record holding the digest in `probe` with this size, or NONE. */
  private find(slotHash: number, sizeBytes: number): number {
    const table = this.table;
    const mask = table.length - 1;
    for (let slot = slotHash & mask; ; slot = (slot + 1) & mask) {
      const entry = table[slot]!;
      if (entry === 0) return NONE;
      const record = entry - 1;
      if (this.slotHashes[record] === slotHash && this.keySizes[record] === sizeBytes && this.sameHash(record)) return record;
    }
  }

  private sameHash(record: number): boolean {
    const words = this.hashWords;
    const base = record * HASH_WORDS;
    for (let w = 0; w < HASH_WORDS; w++) if (words[base + w] !== this.probe[w]) return false;
    return true;
  }

  // ---------------------------------------------------------------------------
  // Records, table and LRU list

  private allocate(): number {
    if (this.freeRecords !== NONE) {
      const record = this.freeRecords;
      this.freeRecords = this.newer[record]!;
      return record;
    }
    if (this.highWater === this.keySizes.length) this.grow();
    return this.highWater++;
  }

  /** Doubles the record arrays and the table (the table is rebuilt from the records' slot hashes). */
  private grow(): void {
    const records = this.keySizes.length * 2;
    const widen = <T extends Uint32Array | Int32Array | Float64Array | Uint8Array>(old: T, make: (n: number) => T, per = 1): T => {
      const bigger = make(records * per);
      bigger.set(old);
      return bigger;
    };
    this.hashWords = widen(this.hashWords, (n) => new Uint32Array(n), HASH_WORDS);
    this.keySizes = widen(this.keySizes, (n) => new Float64Array(n));
    this.storedSizes = widen(this.storedSizes, (n) => new Float64Array(n));
    this.chargedSizes = widen(this.chargedSizes, (n) => new Float64Array(n));
    this.accessMs = widen(this.accessMs, (n) => new Float64Array(n));
    this.versions = widen(this.versions, (n) => new Float64Array(n));
    this.inlineFlags = widen(this.inlineFlags, (n) => new Uint8Array(n));
    this.slotHashes = widen(this.slotHashes, (n) => new Int32Array(n));
    this.older = widen(this.older, (n) => new Int32Array(n));
    this.newer = widen(this.newer, (n) => new Int32Array(n));
    this.table = new Int32Array(records * 2);
    for (let r = this.oldest; r !== NONE; r = this.newer[r]!) this.place(r);
  }

  /** Puts a record into the first free slot from its home slot. */
  private place(record: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let slot = this.slotHashes[record]! & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = record + 1;
  }

  /** Takes a record out of the table and the list and frees it. */
  private remove(record: number): void {
    this.unplace(record);
    this.unlink(record);
    this.totalBytes -= this.chargedSizes[record]!;
    this.versions[record] = 0;
    this.newer[record] = this.freeRecords;
    this.freeRecords = record;
    this.live -= 1;
  }

  /** Empties the record's slot, then shifts back later entries of its run that may no longer be found. */
  private unplace(record: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let hole = this.slotHashes[record]! & mask;
    while (table[hole] !== record + 1) hole = (hole + 1) & mask;
    table[hole] = 0;
    for (let slot = (hole + 1) & mask; table[slot] !== 0; slot = (slot + 1) & mask) {
      const home = this.slotHashes[table[slot]! - 1]! & mask;
      // The entry may move into the hole only if its home is not between the hole and its slot (cyclically).
      const homeAfterHole = hole <= slot ? home > hole && home <= slot : home > hole || home <= slot;
      if (homeAfterHole) continue;
      table[hole] = table[slot]!;
      table[slot] = 0;
      hole = slot;
    }
  }

  private unlink(record: number): void {
    const before = this.older[record]!;
    const after = this.newer[record]!;
    if (before === NONE) this.oldest = after;
    else this.newer[before] = after;
    if (after === NONE) this.newest = before;
    else this.older[after] = before;
  }

  private append(record: number): void {
    this.older[record] = this.newest;
    this.newer[record] = NONE;
    if (this.newest === NONE) this.oldest = record;
    else this.newer[this.newest] = record;
    this.newest = record;
  }

  // ---------------------------------------------------------------------------
  // Eviction

  private evictAsNeeded(): void {
    applyEvictionPolicy(this.policy, this.clock.now(), this.lru);
  }

  private evict(record: number, reason: EvictReason): void {
    const blob = this.blobOf(record);
    this.remove(record);
    this.evictedCount += 1;
    this.onEvict?.(blob, reason);
  }

  private hitOf(record: number): BlobHit {
    return {
      storedSize: this.storedSizes[record]!,
      chargedSize: this.chargedSizes[record]!,
      lastAccessMs: this.accessMs[record]!,
      version: this.versions[record]!,
      inline: this.inlineFlags[record] === 1,
    };
  }

  private blobOf(record: number): IndexedBlob {
    let hash = '';
    const base = record * HASH_WORDS;
    for (let w = 0; w < HASH_WORDS; w++) hash += this.hashWords[base + w]!.toString(16).padStart(8, '0');
    return { key: { hash, sizeBytes: this.keySizes[record]! }, ...this.hitOf(record) };
  }
}
