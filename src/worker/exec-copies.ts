// Executable inputs. A hardlink shares the CAS file's inode, so a chmod +x on
// it would change the cached file for everyone; instead the worker keeps one
// read-only executable copy per digest in a directory of its own and links
// that into actions. Copies are made once (concurrent requests share the
// work), written to a temp name and renamed into place, and dropped oldest
// first past a byte budget (an action holding a link keeps its inode alive).
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, digestKey } from '../util/digest.js';

/** Writes a blob's bytes to a new file at `dest`. */
export type BlobWriter = (digest: Digest, dest: string) => Promise<void>;

export class ExecCopies {
  /** Copies present or being made, least recently used first. */
  private readonly copies = new Map<string, { path: Promise<string>; size: number }>();
  private bytes = 0;

  constructor(
    readonly dir: string,
    private readonly write: BlobWriter,
    private readonly maxBytes: number,
  ) {}

  /** Removes copies left by an earlier run (they may have been modified since). */
  async reset(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true });
  }

  /** The read-only executable copy of `digest`, made if needed. */
  pathFor(digest: Digest): Promise<string> {
    const name = digestKey(digest);
    const known = this.copies.get(name);
    if (known !== undefined) {
      this.copies.delete(name);
      this.copies.set(name, known);
      return known.path;
    }
    const path = this.make(digest, join(this.dir, name));
    const entry = { path, size: digest.sizeBytes };
    this.copies.set(name, entry);
    this.bytes += entry.size;
    path.catch(() => this.forget(name, entry));
    this.trim(name);
    return path;
  }

  /** Drops a copy an action modified in place. */
  async discard(digest: Digest): Promise<void> {
    const name = digestKey(digest);
    const entry = this.copies.get(name);
    if (entry === undefined) return;
    this.forget(name, entry);
    await rm(join(this.dir, name), { force: true });
  }

  private async make(digest: Digest, path: string): Promise<string> {
    const temp = `${path}.${randomUUID()}.tmp`;
    try {
      await this.write(digest, temp);
      await chmod(temp, 0o555);
      await rename(temp, path);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return path;
  }

  private forget(name: string, entry: { size: number }): void {
    if (this.copies.get(name) !== entry) return;
    this.copies.delete(name);
    this.bytes -= entry.size;
  }

  /** Drops the least recently used copies (never `keep`) while over budget. */
  private trim(keep: string): void {
    for (const [name, entry] of this.copies) {
      if (this.bytes <= this.maxBytes) return;
      if (name === keep) continue;
      this.forget(name, entry);
      void entry.path.then((p) => rm(p, { force: true })).catch(() => undefined);
    }
  }
}
