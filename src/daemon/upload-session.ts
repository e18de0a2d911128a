// One ByteStream upload in progress. The bytes flow straight into a pending
// `store.update`, whose source is this session: nothing is committed until
// the last byte has arrived and hashed to the declared digest. If the client
// disconnects, the update simply waits (resumable) until a new Write
// continues it or the session is aborted, which fails the source so the
// store drops what it had.
import { createHash } from 'node:crypto';
import type { ByteStream, StoreDriver } from '../stores/store.js';
import { type Digest, formatDigest } from '../util/digest.js';
import { invalidArgument } from '../util/errors.js';

export type SessionState = 'open' | 'committed' | 'failed';

export class UploadSession {
  /** Bytes accepted so far (queued or already handed to the store): the committed_size. */
  received = 0;
  state: SessionState = 'open';
  /** Why the session failed (our verification error takes precedence over the store's wrapping). */
  failure: Error | undefined;
  /** Token of the Write call feeding this session; undefined while detached. */
  owner: object | undefined;
  /** Called when another Write takes the session over from the current owner. */
  private onTakeover: (() => void) | undefined;
  private expiry: NodeJS.Timeout | undefined;

  /** Settles when the store has committed the blob (or failed). Never rejects unhandled. */
  readonly committed: Promise<void>;

  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(
    readonly key: string,
    readonly digest: Digest,
    store: StoreDriver,
    private readonly maxQueuedBytes: number,
    /** False when the store itself verifies the hash before committing (a verify store): no need to hash twice. */
    private readonly verifyHash = true,
  ) {
    this.committed = store.update(digest, this.source(), digest.sizeBytes).then(
      () => {
        this.state = 'committed';
        this.wake();
      },
      (err: unknown) => {
        this.state = 'failed';
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        this.wake();
        throw this.failure;
      },
    );
    this.committed.catch(() => {});
  }

  /** Queues a chunk; resolves once the queue has room again. Throws if the session failed. */
  async push(chunk: Buffer): Promise<void> {
    if (this.state === 'failed' || (this.state === 'open' && this.failure !== undefined)) throw this.failure!;
    if (this.state === 'committed' || chunk.length === 0) return;
    this.received += chunk.length;
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.wakeConsumer?.();
    while (this.queuedBytes > this.maxQueuedBytes && this.currentState() === 'open') {
      await new Promise<void>((resolve) => (this.wakeProducer = resolve));
      this.wakeProducer = undefined;
    }
    if (this.currentState() !== 'committed' && this.failure !== undefined) throw this.failure;
  }

  /** The state, read fresh (it changes while we wait). */
  private currentState(): SessionState {
    return this.state;
  }

  /** Fails the upload: the store sees its source fail and commits nothing. */
  abort(reason: Error): void {
    if (this.state !== 'open') return;
    this.failure ??= reason;
    this.clearExpiry();
    this.wake();
  }

  /** Makes `token` the feeding call, displacing (and notifying) any previous one. */
  attach(token: object, onTakeover: () => void): void {
    this.clearExpiry();
    const previous = this.onTakeover;
    this.owner = token;
    this.onTakeover = onTakeover;
    previous?.();
  }

  /** The feeding call went away; the session waits `timeoutMs` for a resume, then aborts. */
  detach(token: object, timeoutMs: number, onExpire: () => void): void {
    if (this.owner !== token) return;
    this.owner = undefined;
    this.onTakeover = undefined;
    if (this.state !== 'open') return;
    this.clearExpiry();
    if (timeoutMs <= 0) {
      onExpire();
      return;
    }
    this.expiry = setTimeout(onExpire, timeoutMs);
    this.expiry.unref();
  }

  private clearExpiry(): void {
    if (this.expiry !== undefined) clearTimeout(this.expiry);
    this.expiry = undefined;
  }

  private wake(): void {
    this.wakeConsumer?.();
    this.wakeProducer?.();
  }

  /** What the store reads: queued chunks, hashed on the way; the last chunk is only handed over once the hash matches. */
  private async *source(): ByteStream {
    const hash = this.verifyHash ? createHash('sha256') : undefined;
    const size = this.digest.sizeBytes;
    let hashed = 0;
    while (hashed < size) {
      while (this.queue.length === 0 && this.failure === undefined) {
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
        this.wakeConsumer = undefined;
      }
      if (this.failure !== undefined) throw this.failure;
      const chunk = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      if (this.queuedBytes <= this.maxQueuedBytes) this.wakeProducer?.();
      hash?.update(chunk);
      hashed += chunk.length;
      if (hash !== undefined && hashed === size) {
        const actual = hash.digest('hex');
        if (actual !== this.digest.hash) {
          this.failure = invalidArgument(
            `the uploaded bytes hash to ${actual}, not to ${formatDigest(this.digest)}; nothing was stored`,
          );
          throw this.failure;
        }
      }
      yield chunk;
    }
  }
}
