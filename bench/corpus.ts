// The dedup benchmark's corpus, generated deterministically from a seed (same
// seed, same bytes, on every machine) and streamed in pieces, never held whole:
//
// - An archive-like file (tar-shaped: 512-byte member headers, member bodies
//   padded to 512) of `baseBytes`, whose members are source-like text,
//   object-file-like binaries and incompressible "already compressed" assets.
//   Versions 2..N each derive from the previous one by a few small in-place
//   edits, insertions and a deletion at random places, kept as a piece table
//   over the generated base, so any version streams without being stored.
// - Build outputs: many separate files of source-like text and object-like
//   binaries (repeated record structure plus some entropy), as a build writes.

const MIB = 1024 * 1024;

/** A small fast PRNG (mulberry32): deterministic across platforms, plenty for test data. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo));
  }

  /** Log-uniform integer in [lo, hi): many small values, some large, like file sizes. */
  logInt(lo: number, hi: number): number {
    return Math.floor(Math.exp(Math.log(lo) + this.float() * (Math.log(hi) - Math.log(lo))));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** Fills `buf` with random bytes, four at a time. */
  fill(buf: Buffer): Buffer {
    const whole = buf.length & ~3;
    for (let i = 0; i < whole; i += 4) buf.writeUInt32LE(this.next(), i);
    for (let i = whole; i < buf.length; i++) buf[i] = this.next() & 0xff;
    return buf;
  }
}

/** A 32-bit seed derived from a seed and some integers (so parts of the corpus are independent of each other). */
export function subSeed(seed: number, ...parts: number[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

// --- content generators -------------------------------------------------

const KEYWORDS = [
  'const', 'return', 'if', 'else', 'for', 'while', 'static', 'int', 'void', 'struct', 'auto', 'unsigned',
  'namespace', 'class', 'public:', 'private:', 'template', 'typename', 'nullptr', 'true', 'false', 'import',
  'export', 'function', 'let', 'async', 'await', 'std::string', 'std::vector', 'size_t', 'uint64_t', 'bool',
];
const SYLLABLES = ['get', 'set', 'buf', 'len', 'node', 'tree', 'hash', 'key', 'val', 'str', 'cache', 'store', 'read',
  'write', 'chunk', 'blob', 'index', 'count', 'size', 'next', 'prev', 'list', 'map', 'item', 'data', 'path', 'file',
  'digest', 'entry', 'state', 'lock', 'queue', 'task', 'error', 'result', 'config', 'spec', 'stream', 'offset', 'limit'];
const PUNCT = ['(', ')', ', ', ' = ', ' == ', ' + ', '->', '.', '[', ']', ' < ', ' && ', '::'];

/** A fixed vocabulary of identifiers (the same for every seed, like a code base's names). */
const IDENTIFIERS: string[] = (() => {
  const prng = new Prng(0x5eed1d);
  const out: string[] = [];
  for (let i = 0; i < 600; i++) {
    const parts = prng.int(1, 4);
    let name = '';
    for (let p = 0; p < parts; p++) {
      const s = prng.pick(SYLLABLES);
      name += p === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
    }
    if (prng.float() < 0.2) name += String(prng.int(0, 64));
    out.push(name);
  }
  return out;
})();

/** Zipf-like choice: a few names are very common, most are rare. */
function word(prng: Prng): string {
  if (prng.float() < 0.25) return prng.pick(KEYWORDS);
  const r = prng.float();
  return IDENTIFIERS[Math.floor(r * r * r * IDENTIFIERS.length)]!;
}

/** Source-like text: indented lines of tokens from a skewed vocabulary, comments, string literals. */
export function textLike(prng: Prng, length: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  let depth = 0;
  while (size < length) {
    let line = '  '.repeat(depth);
    const roll = prng.float();
    if (roll < 0.08) {
      line += `// ${word(prng)} ${word(prng)} ${word(prng)} ${word(prng)}: ${prng.int(0, 100_000)}`;
    } else if (roll < 0.14 && depth < 6) {
      line += `${word(prng)} ${word(prng)}(${word(prng)} ${word(prng)}) {`;
      depth++;
    } else if (roll < 0.2 && depth > 0) {
      depth--;
      line = '  '.repeat(depth) + '}';
    } else {
      const tokens = prng.int(2, 9);
      for (let t = 0; t < tokens; t++) line += word(prng) + (t + 1 < tokens ? prng.pick(PUNCT) : '');
      if (prng.float() < 0.15) line += ` "${word(prng)} ${prng.int(0, 1 << 30).toString(16)}"`;
      line += ';';
    }
    lines.push(line);
    size += line.length + 1;
  }
  return Buffer.from(lines.join('\n') + '\n', 'latin1').subarray(0, length);
}

const OPCODES = [0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x83, 0xc3, 0x55, 0x5d, 0x31, 0x85, 0x74, 0x75, 0xeb, 0x41, 0x4c, 0xff, 0x01];
const MODRM = [0xe5, 0xc0, 0x45, 0x7d, 0x04, 0x24, 0xf8, 0xc7, 0x05, 0x44];

/**
 * Object-file-like bytes: a header, then sections of fixed-size symbol and
 * relocation records (mostly structure, some entropy), a string table of
 * names, and "code" (common opcodes, operands, random immediates, padding).
 */
export function objectLike(prng: Prng, length: number): Buffer {
  const out = Buffer.alloc(length);
  let pos = 0;
  const put8 = (v: number) => {
    if (pos < length) out[pos++] = v & 0xff;
  };
  const put32 = (v: number) => {
    for (let i = 0; i < 4; i++) put8(v >>> (8 * i));
  };
  // Header: magic, version, section counts.
  for (const c of [0x7f, 0x4e, 0x4f, 0x42, 2, 1, 1, 0]) put8(c);
  put32(prng.int(1, 64));
  pos = Math.min(length, 64);
  let address = 0x401000 + prng.int(0, 4096) * 16;
  const idioms: number[][] = Array.from({ length: 48 }, () =>
    Array.from({ length: prng.int(2, 9) }, (_, i) => (i % 2 === 0 ? prng.pick(OPCODES) : prng.pick(MODRM))),
  );
  let nameOffset = 1;
  while (pos < length) {
    switch (prng.int(0, 4)) {
      case 0: {
        // Symbol table: 24-byte records.
        const n = prng.int(8, 64);
        for (let i = 0; i < n && pos < length; i++) {
          const size = prng.int(1, 256) * 16;
          put32(nameOffset);
          nameOffset += prng.int(6, 30);
          put32(address);
          put32(0);
          put32(size);
          put8(prng.pick([0x12, 0x11, 0x02, 0x22]));
          put8(0);
          put8(prng.int(1, 12));
          put8(0);
          put32(0);
          address += size;
        }
        break;
      }
      case 1: {
        // String table: NUL-terminated names.
        const n = prng.int(8, 64);
        for (let i = 0; i < n && pos < length; i++) {
          for (const ch of Buffer.from(`_ZN${word(prng)}${prng.int(0, 9)}${word(prng)}E`, 'latin1')) put8(ch);
          put8(0);
        }
        break;
      }
      case 2: {
        // Relocations: 16-byte records with increasing offsets.
        const n = prng.int(8, 48);
        let offset = prng.int(0, 1 << 16);
        for (let i = 0; i < n && pos < length; i++) {
          put32(offset);
          offset += prng.int(4, 64);
          put32(prng.pick([1, 2, 4, 10, 11]));
          put32(prng.int(0, 512));
          put32(0);
        }
        break;
      }
      default: {
        // Code: compiler idioms (prologues, moves, calls) repeated with varying operands,
        // immediates (mostly small numbers and nearby addresses, sometimes arbitrary).
        const n = prng.int(64, 1024);
        for (let i = 0; i < n && pos < length; i++) {
          const r0 = prng.float();
          for (const b of idioms[Math.floor(r0 * r0 * idioms.length)]!) put8(b);
          const r = prng.float();
          if (r < 0.05) put32(prng.next());
          else if (r < 0.2) put32(address + prng.int(0, 256) * 16);
          else if (r < 0.35) put8(prng.int(0, 64));
        }
        while (pos % 16 !== 0 && pos < length) put8(0xcc);
      }
    }
  }
  return out;
}

/** Incompressible bytes, like an embedded image or an already-compressed archive. */
export function randomLike(prng: Prng, length: number): Buffer {
  return prng.fill(Buffer.allocUnsafe(length));
}

export type ContentKind = 'text' | 'object' | 'random';

function content(kind: ContentKind, seed: number, length: number): Buffer {
  const prng = new Prng(seed);
  if (kind === 'text') return textLike(prng, length);
  if (kind === 'object') return objectLike(prng, length);
  return randomLike(prng, length);
}

// --- the archive and its versions ----------------------------------------

interface Member {
  /** Offset of the member's header in the base archive. */
  offset: number;
  /** Header + body + padding. */
  length: number;
  bodyLength: number;
  kind: ContentKind;
  name: string;
  seed: number;
}

type Piece =
  /** A range of the generated base archive. */
  | { from: 'base'; start: number; length: number }
  /** Bytes written by an edit: `length` bytes at `offset` of the literal generated from `seed`. */
  | { from: 'literal'; seed: number; offset: number; length: number; total: number };

export interface ArchiveOptions {
  seed: number;
  /** Size of version 1. */
  baseBytes: number;
  versions: number;
  /** Per version: in-place overwrites of 1..64 bytes, insertions of 16 B..4 KiB, deletions of 16 B..2 KiB. */
  edits: number;
  insertions: number;
  deletions: number;
}

export const DEFAULT_ARCHIVE: ArchiveOptions = { seed: 20261130, baseBytes: 64 * MIB, versions: 10, edits: 4, insertions: 3, deletions: 1 };

/** What changed from the previous version (for the report). */
export interface VersionChange {
  edits: number;
  insertions: number;
  deletions: number;
  /** Bytes overwritten in place by edits. */
  bytesEdited: number;
  bytesInserted: number;
  bytesDeleted: number;
}

export class ArchiveCorpus {
  private readonly members: Member[] = [];
  private readonly pieces: Piece[][] = [];
  readonly changes: VersionChange[] = [];
  /** The last member generated, kept because versions read the base mostly in order. */
  private cached: { index: number; bytes: Buffer } | undefined;

  constructor(readonly options: ArchiveOptions = DEFAULT_ARCHIVE) {
    this.planMembers();
    this.pieces.push([{ from: 'base', start: 0, length: options.baseBytes }]);
    this.changes.push({ edits: 0, insertions: 0, deletions: 0, bytesEdited: 0, bytesInserted: 0, bytesDeleted: 0 });
    const prng = new Prng(subSeed(options.seed, 2));
    for (let v = 2; v <= options.versions; v++) this.deriveVersion(prng, v);
  }

  /** The composition of the base archive by content kind (bytes), for the report. */
  kindBytes(): Record<ContentKind, number> {
    const out: Record<ContentKind, number> = { text: 0, object: 0, random: 0 };
    for (const m of this.members) out[m.kind] += m.bodyLength;
    return out;
  }

  get memberCount(): number {
    return this.members.length;
  }

  /** Size of version `v` (1-based). */
  versionLength(v: number): number {
    return this.piecesOf(v).reduce((sum, p) => sum + p.length, 0);
  }

  /** Version `v` as a stream of buffers of at most `pieceBytes` (default 1 MiB). */
  *versionChunks(v: number, pieceBytes = MIB): Generator<Buffer> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (const piece of this.piecesOf(v)) {
      const parts = piece.from === 'base' ? this.baseRange(piece.start, piece.start + piece.length) : [literal(piece)];
      for (let part of parts) {
        while (part.length > 0) {
          const take = Math.min(part.length, pieceBytes - pendingBytes);
          pending.push(part.subarray(0, take));
          pendingBytes += take;
          part = part.subarray(take);
          if (pendingBytes === pieceBytes) {
            yield pending.length === 1 ? pending[0]! : Buffer.concat(pending);
            pending = [];
            pendingBytes = 0;
          }
        }
      }
    }
    if (pendingBytes > 0) yield Buffer.concat(pending);
  }

  private piecesOf(v: number): Piece[] {
    const pieces = this.pieces[v - 1];
    if (!pieces) throw new Error(`the corpus has versions 1..${this.pieces.length}, not ${v}`);
    return pieces;
  }

  private planMembers(): void {
    const prng = new Prng(subSeed(this.options.seed, 1));
    let offset = 0;
    const exts: Record<ContentKind, string[]> = { text: ['cc', 'h', 'ts', 'py', 'json'], object: ['o', 'so', 'class'], random: ['png', 'gz', 'jar'] };
    for (let i = 0; offset < this.options.baseBytes; i++) {
      const r = prng.float();
      const kind: ContentKind = r < 0.5 ? 'text' : r < 0.88 ? 'object' : 'random';
      const bodyLength = kind === 'random' && prng.float() < 0.03 ? prng.int(MIB, 3 * MIB) : prng.logInt(2048, MIB);
      const length = 512 + Math.ceil(bodyLength / 512) * 512;
      const name = `pkg/module_${i % 97}/${kind}_${i}.${prng.pick(exts[kind])}`;
      this.members.push({ offset, length, bodyLength, kind, name, seed: subSeed(this.options.seed, 3, i) });
      offset += length;
    }
  }

  private memberBytes(index: number): Buffer {
    if (this.cached?.index === index) return this.cached.bytes;
    const m = this.members[index]!;
    const bytes = Buffer.alloc(m.length);
    // A tar-like header: name, mode, size in octal, a fixed mtime, "ustar".
    bytes.write(m.name.slice(0, 99), 0, 'latin1');
    bytes.write('0000644\0', 100, 'latin1');
    bytes.write(m.bodyLength.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    bytes.write('14712345670\0', 136, 'latin1');
    bytes.write('ustar\u000000', 257, 'latin1');
    content(m.kind, m.seed, m.bodyLength).copy(bytes, 512);
    this.cached = { index, bytes };
    return bytes;
  }

  /** The base archive's bytes in [start, end), member by member. */
  private *baseRange(start: number, end: number): Generator<Buffer> {
    // Binary search for the member holding `start`.
    let lo = 0;
    let hi = this.members.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.members[mid]!.offset <= start) lo = mid;
      else hi = mid - 1;
    }
    for (let i = lo; i < this.members.length && start < end; i++) {
      const m = this.members[i]!;
      const from = start - m.offset;
      const to = Math.min(m.length, end - m.offset);
      if (to > from) yield this.memberBytes(i).subarray(from, to);
      start = m.offset + to;
    }
  }

  private deriveVersion(prng: Prng, v: number): void {
    let pieces = [...this.pieces[v - 2]!];
    const change: VersionChange = { edits: 0, insertions: 0, deletions: 0, bytesEdited: 0, bytesInserted: 0, bytesDeleted: 0 };
    const ops: ('edit' | 'insert' | 'delete')[] = [
      ...Array<'edit'>(this.options.edits).fill('edit'),
      ...Array<'insert'>(this.options.insertions).fill('insert'),
      ...Array<'delete'>(this.options.deletions).fill('delete'),
    ];
    for (const [i, op] of ops.entries()) {
      const total = pieces.reduce((sum, p) => sum + p.length, 0);
      const pos = prng.int(0, total - 4096);
      const seed = subSeed(this.options.seed, 4, v, i);
      if (op === 'edit') {
        const n = prng.int(1, 65);
        pieces = splice(pieces, pos, n, { from: 'literal', seed, offset: 0, length: n, total: n });
        change.edits++;
        change.bytesEdited += n;
      } else if (op === 'insert') {
        const n = prng.int(16, 4097);
        pieces = splice(pieces, pos, 0, { from: 'literal', seed, offset: 0, length: n, total: n });
        change.insertions++;
        change.bytesInserted += n;
      } else {
        const n = prng.int(16, 2049);
        pieces = splice(pieces, pos, n, undefined);
        change.deletions++;
        change.bytesDeleted += n;
      }
    }
    this.pieces.push(pieces);
    this.changes.push(change);
  }
}

/** An edit's bytes: text-like, as edits to a source tree mostly are. */
function literal(piece: Extract<Piece, { from: 'literal' }>): Buffer {
  return textLike(new Prng(piece.seed), piece.total).subarray(piece.offset, piece.offset + piece.length);
}

/** Splits a piece at `at` bytes into it. */
function cut(piece: Piece, at: number): [Piece, Piece] {
  if (piece.from === 'base') {
    return [
      { from: 'base', start: piece.start, length: at },
      { from: 'base', start: piece.start + at, length: piece.length - at },
    ];
  }
  return [
    { ...piece, length: at },
    { ...piece, offset: piece.offset + at, length: piece.length - at },
  ];
}

/** Removes `deleteBytes` at `pos` and inserts `insert` there (a piece-table splice). */
function splice(pieces: Piece[], pos: number, deleteBytes: number, insert: Piece | undefined): Piece[] {
  const out: Piece[] = [];
  let offset = 0;
  let inserted = false;
  const end = pos + deleteBytes;
  for (const piece of pieces) {
    const pStart = offset;
    const pEnd = offset + piece.length;
    offset = pEnd;
    if (pEnd <= pos || pStart >= end) {
      if (!inserted && pStart >= pos && insert) {
        out.push(insert);
        inserted = true;
      }
      out.push(piece);
      continue;
    }
    // This piece overlaps [pos, end) or holds pos.
    if (pStart < pos) out.push(cut(piece, pos - pStart)[0]);
    if (!inserted && insert) {
      out.push(insert);
      inserted = true;
    }
    if (pEnd > end) out.push(cut(piece, Math.max(0, end - pStart))[1]);
  }
  if (!inserted && insert) out.push(insert);
  return out.filter((p) => p.length > 0);
}

// --- build outputs ---------------------------------------------------------

export interface BuildOutput {
  name: string;
  kind: Exclude<ContentKind, 'random'>;
  size: number;
  seed: number;
}

/** A build's outputs: source-like text (generated sources, bundles, reports) and object-like binaries. */
export function buildOutputs(seed: number, totalBytes: number): BuildOutput[] {
  const prng = new Prng(subSeed(seed, 5));
  const out: BuildOutput[] = [];
  let total = 0;
  for (let i = 0; total < totalBytes; i++) {
    const kind = prng.float() < 0.5 ? 'text' : 'object';
    const size = Math.min(prng.logInt(1024, 2 * MIB), totalBytes - total);
    const ext = kind === 'text' ? prng.pick(['pb.cc', 'pb.h', 'bundle.js', 'json', 'txt']) : prng.pick(['o', 'a', 'so']);
    out.push({ name: `bazel-out/k8-fastbuild/bin/pkg${i % 31}/out_${i}.${ext}`, kind, size, seed: subSeed(seed, 6, i) });
    total += size;
  }
  return out;
}

/** One build output's bytes (outputs are at most 2 MiB, generated whole). */
export function buildOutputBytes(o: BuildOutput): Buffer {
  return content(o.kind, o.seed, o.size);
}
