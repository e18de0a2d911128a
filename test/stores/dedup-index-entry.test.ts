import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DamagedIndexEntryError,
  INDEX_ENTRY_VERSION,
  decodeIndexEntry,
  encodeIndexEntry,
  indexEntrySize,
} from '../../src/stores/dedup/index-entry.js';
import { type Digest, EMPTY_DIGEST } from '../../src/util/digest.js';

const h = (s: string) => createHash('sha256').update(s).digest('hex');
const chunks: Digest[] = [
  { hash: h('a'), sizeBytes: 70_000 },
  { hash: h('b'), sizeBytes: 300_000 },
  { hash: h('a'), sizeBytes: 70_000 },
];
const blob: Digest = { hash: h('the blob'), sizeBytes: 440_000 };

/** Re-seals an entry after editing it, so only the edited field is wrong. */
function reseal(entry: Buffer): Buffer {
  const body = entry.length - 32;
  createHash('sha256').update(entry.subarray(0, body)).digest().copy(entry, body);
  return entry;
}

function damage(entry: Buffer, edit: (b: Buffer) => Buffer | void, sealed = true): Buffer {
  const copy = Buffer.from(entry);
  const out = edit(copy) ?? copy;
  return sealed ? reseal(out) : out;
}

describe('dedup index entry', () => {
  it('round-trips a chunk list, repeated chunks included', () => {
    const entry = encodeIndexEntry(blob, chunks);
    expect(entry.length).toBe(indexEntrySize(3));
    expect(entry.subarray(0, 4).toString('latin1')).toBe('NCDX');
    expect(entry[4]).toBe(INDEX_ENTRY_VERSION);
    expect(decodeIndexEntry(blob, entry)).toEqual(chunks);
  });

  it('round-trips the empty list of an empty blob', () => {
    expect(decodeIndexEntry(EMPTY_DIGEST, encodeIndexEntry(EMPTY_DIGEST, []))).toEqual([]);
  });

  const entry = encodeIndexEntry(blob, chunks);
  const cases: [string, Buffer, RegExp][] = [
    ['empty file', Buffer.alloc(0), /0 bytes is too short/],
    ['torn write', entry.subarray(0, entry.length - 10), /bytes, but 3 chunks need/],
    ['extra bytes', Buffer.concat([entry, Buffer.alloc(1)]), /bytes, but 3 chunks need/],
    ['bad magic', damage(entry, (b) => void b.write('XXXX', 0, 'latin1')), /bad magic/],
    ['newer version', damage(entry, (b) => void b.writeUInt8(2, 4)), /format version 2, this ncache reads version 1/],
    ['reserved bits', damage(entry, (b) => void b.writeUInt8(1, 6)), /reserved bytes/],
    ['flipped bit, unsealed', damage(entry, (b) => void (b[100] = b[100]! ^ 1), false), /checksum mismatch/],
    ['entry of another blob', encodeIndexEntry({ ...blob, hash: h('other') }, chunks), /describes blob .* not this one/],
    ['sizes do not add up', damage(entry, (b) => void b.writeBigUInt64BE(1n, 52 + 32)), /chunks add up to 370001 bytes, the blob has 440000/],
    ['zero-sized chunk', damage(entry, (b) => void b.writeBigUInt64BE(0n, 52 + 32)), /chunk 0 has size 0/],
  ];
  for (const [name, data, message] of cases) {
    it(`rejects a damaged entry (${name}), naming the blob`, () => {
      let thrown: unknown;
      try {
        decodeIndexEntry(blob, data);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(DamagedIndexEntryError);
      expect((thrown as Error).message).toContain(`${blob.hash}/${blob.sizeBytes}`);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as DamagedIndexEntryError).code).toBe('NOT_FOUND');
    });
  }
});
