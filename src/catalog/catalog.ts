// The daemon's SQLite catalog: one file per daemon holding what must survive a
// restart or a crash but is not blob content: the journal of uploads owed to
// slow tiers and what those tiers are known to hold (later: dedup indexes,
// reference counts, access times, counters; see migrations.ts).
//
// Durability: WAL with synchronous=FULL. A write-behind upload is acknowledged
// to the client once its journal row is committed, and the fast tier fsyncs the
// blob itself, so the row must survive what the blob survives, power loss
// included. NORMAL would survive a SIGKILL but could lose the last commits on
// an OS crash, leaving acknowledged blobs that are never uploaded. FULL costs an
// fsync of the WAL per commit, the same order as the fast tier's own fsync;
// write-behind groups the rows of concurrent uploads into one commit.
//
// A catalog that cannot be read (not a database, corrupt, failed quick_check)
// is moved aside as `<file>.corrupt-<timestamp>` and recreated empty, with a
// warning: losing it loses knowledge, never blob content.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Clock, systemClock } from '../util/clock.js';
import { NcacheError, errorMessage, failedPrecondition } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { LifetimeCounters } from './counters.js';
import { DedupIndex } from './dedup-index.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { SlowTierPresence } from './slow-tier-presence.js';
import { StoreEntries } from './store-entries.js';
import { UploadJournal } from './upload-journal.js';

export interface CatalogOptions {
  logger?: Logger;
  clock?: Clock;
}

/** Raised inside open when the file is not a usable catalog; triggers the move-aside. */
class UnreadableCatalog extends Error {}

export class Catalog {
  readonly journal: UploadJournal;
  readonly presence: SlowTierPresence;
  /** Filesystem stores' indexes (store_entries), so a restart does not rescan their directories. */
  readonly storeEntries: StoreEntries;
  /**
   * Dedup stores' blob index and chunk reference counts, on the relaxed
   * connection: what they need is SIGKILL-safety, which WAL with NORMAL gives
   * (a commit is in the WAL before the call returns). An OS crash may lose the
   * last commits; the rows then lost are re-learned from the index store.
   */
  readonly dedup: DedupIndex;
  /** Lifetime totals for stats (the `counters` table). */
  readonly counters: LifetimeCounters;
  /**
   * A second connection with synchronous=NORMAL for changes that may be lost
   * in an OS crash without harm (presence: relearned, and corrected on read;
   * removal of a delivered upload: it is delivered again), so they do not cost
   * an fsync (which blocks the event loop) per blob.
   */
  private readonly relaxed: Database.Database;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
    readonly clock: Clock,
  ) {
    this.relaxed = new Database(path);
    limitPageCache(this.relaxed);
    this.relaxed.pragma('synchronous = NORMAL');
    this.relaxed.pragma('busy_timeout = 5000');
    this.journal = new UploadJournal(db, this.relaxed);
    this.presence = new SlowTierPresence(this.relaxed);
    this.storeEntries = new StoreEntries(this.relaxed);
    this.dedup = new DedupIndex(this.relaxed, () => clock.now());
    this.counters = new LifetimeCounters(this.relaxed);
  }

  /**
   * Opens (creating if needed) the catalog at `path`, bringing its schema up to
   * date. An unreadable file is moved aside and replaced by an empty catalog.
   * Throws FAILED_PRECONDITION for a catalog written by a newer ncache.
   */
  static open(path: string, options: CatalogOptions = {}): Catalog {
    const logger = options.logger ?? silentLogger;
    const clock = options.clock ?? systemClock;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      return new Catalog(path, openDatabase(path, logger), clock);
    } catch (err) {
      if (!(err instanceof UnreadableCatalog)) throw err;
      const aside = `${path}.corrupt-${new Date(clock.now()).toISOString().replace(/[:.]/g, '-')}`;
      moveAside(path, aside);
      logger.warn(
        `catalog ${path} could not be read (${err.message}); moved it to ${aside} and started an empty catalog. ` +
          'Uploads it still owed to slow tiers are forgotten (the blobs stay in the fast tier), ' +
          'and knowledge of what slow tiers hold is relearned as blobs are read.',
      );
      return new Catalog(path, openDatabase(path, logger), clock);
    }
  }

  /** Bytes the catalog occupies on disk: the database file plus its WAL. */
  fileBytes(): number {
    let total = 0;
    for (const suffix of ['', '-wal']) {
      try {
        total += statSync(this.path + suffix).size;
      } catch {
        // No WAL right now (checkpointed and truncated): nothing to count.
      }
    }
    return total;
  }

  /**
   * Gives back the space of deleted rows (gc): folds the WAL into the file,
   * rebuilds the file without free pages (VACUUM), and truncates the WAL
   * again. Blocks the event loop for as long as that takes, which is short for
   * a catalog (metadata only). Returns the bytes on disk before and after.
   */
  compact(): { bytesBefore: number; bytesAfter: number } {
    const bytesBefore = this.fileBytes();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return { bytesBefore, bytesAfter: this.fileBytes() };
  }

  /** The schema version of the open file. */
  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.relaxed.close();
    this.db.close();
  }
}

/**
 * Each connection's page cache, in KiB. better-sqlite3 builds SQLite with
 * 16 MiB per connection, and a restart filled both of the catalog's (the open's
 * quick_check reads every page, the store index load every row), which the
 * daemon then kept as idle RSS: about 30 MB at 60,000 entries. What the
 * catalog does after the start is appends and lookups by key; 2 MiB is
 * SQLite's own default.
 */
const PAGE_CACHE_KIB = 2048;

function limitPageCache(db: Database.Database): void {
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
}

function openDatabase(path: string, logger: Logger): Database.Database {
  const existed = existsSync(path);
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    if (existed && isUnreadable(err)) throw new UnreadableCatalog(errorMessage(err));
    throw new NcacheError('FAILED_PRECONDITION', `cannot open the catalog ${path}: ${errorMessage(err)}`);
  }
  try {
    limitPageCache(db);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new UnreadableCatalog(`journal_mode is ${String(mode)}, expected wal`);
    db.pragma('synchronous = FULL');
    // Another connection (a second daemon, a CLI command) may hold the write lock briefly.
    db.pragma('busy_timeout = 5000');
    if (existed) {
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new UnreadableCatalog(`quick_check: ${String(check)}`);
    }
    migrate(db, path, logger);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof UnreadableCatalog || err instanceof NcacheError) throw err;
    if (isUnreadable(err)) throw new UnreadableCatalog(errorMessage(err));
    throw new NcacheError('FAILED_PRECONDITION', `cannot open the catalog ${path}: ${errorMessage(err)}`);
  }
}

function migrate(db: Database.Database, path: string, logger: Logger): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw failedPrecondition(
      `the catalog ${path} has schema version ${current}, newer than this ncache understands (${SCHEMA_VERSION}); ` +
        'run the newer ncache, or point this one at another state directory (NCACHE_STATE_DIR)',
    );
  }
  for (const step of MIGRATIONS) {
    if (step.version <= current) continue;
    db.transaction(() => {
      step.up(db);
      db.pragma(`user_version = ${step.version}`);
    })();
    if (current > 0) logger.info(`catalog ${path}: migrated to schema version ${step.version} (${step.description})`);
  }
}

/** SQLite's answers for "this file is not a (sound) database". */
function isUnreadable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT)/.test(code);
}

/** Moves the database and its WAL/shared-memory files aside together. */
function moveAside(path: string, aside: string): void {
  for (const suffix of ['', '-wal', '-shm']) {
    if (!existsSync(path + suffix)) continue;
    try {
      renameSync(path + suffix, aside + suffix);
    } catch (err) {
      throw failedPrecondition(`the catalog ${path} is unreadable and could not be moved aside: ${errorMessage(err)}`);
    }
  }
}
