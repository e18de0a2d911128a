// NativeLink's `cache_lookup` scheduler: looks each cacheable action up in its
// ac_store and answers a hit itself (cached_result, nothing run); a miss goes
// to the scheduler nested in its config. Identical actions arriving while one
// lookup is in flight share it, and so share one nested operation; do_not_cache
// and skip_cache_lookup actions go straight to the nested scheduler.
import { randomUUID } from 'node:crypto';
import { SIMPLE_SCHEDULER_DEFAULTS } from '../config/schema-execution.js';
import type { ActionResult } from '../proto/reapi.js';
import { type Clock, systemClock } from '../util/clock.js';
import { formatDigest } from '../util/digest.js';
import { unavailable, withContext } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import type { JobRequest } from './job.js';
import { NestingScheduler } from './nesting-scheduler.js';
import { actionKey } from './operation-book.js';
import { Code, errorOutcome, failedOutcome } from './outcomes.js';
import { RelayOperation } from './relay-operation.js';
import type { OperationHandle, Scheduler, SchedulerSnapshot } from './scheduler.js';

/** The cached successful result of the request's action, or undefined; throws when the store fails. */
export type CachedResultLookup = (request: JobRequest) => Promise<ActionResult | undefined>;

export interface CacheLookupSchedulerOptions {
  name: string;
  lookup: CachedResultLookup;
  /** The nested scheduler: misses go there. */
  inner: Scheduler;
  logger?: Logger;
  clock?: Clock;
}

/** How long an operation this scheduler answered stays findable (WaitExecution): the simple scheduler's default. */
const RETAIN_MS = SIMPLE_SCHEDULER_DEFAULTS.retain_completed_for_s * 1000;

export class CacheLookupScheduler extends NestingScheduler {
  private readonly lookup: CachedResultLookup;
  private readonly logger: Logger;
  private readonly clock: Clock;
  /** Lookups in flight by action. */
  private readonly looking = new Map<string, RelayOperation>();
  /** Every operation handed out here, until RETAIN_MS after it completed. */
  private readonly operations = new Map<string, RelayOperation>();
  private readonly counts = { submitted: 0, merged: 0, hits: 0, lookupErrors: 0 };
  private closed = false;

  constructor(options: CacheLookupSchedulerOptions) {
    super(options.name, 'cache_lookup', options.inner);
    this.lookup = options.lookup;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
  }

  submit(request: JobRequest): OperationHandle {
    if (this.closed) throw unavailable(`scheduler "${this.name}" is stopping`);
    if (request.action.doNotCache || request.skipCacheLookup) return this.inner.submit(request);
    this.forgetExpired();
    this.counts.submitted++;
    const key = actionKey(request);
    const existing = this.looking.get(key);
    if (existing !== undefined) {
      this.counts.merged++;
      return existing.handle;
    }
    const op = new RelayOperation(`operations/${randomUUID()}`, request.instanceName, request.actionDigest, this.clock.now(), this.logger);
    this.looking.set(key, op);
    this.operations.set(op.name, op);
    this.check(op, request)
      .catch((err: unknown) => op.finish(errorOutcome(err), this.clock.now()))
      .finally(() => this.looking.delete(key));
    return op.handle;
  }

  override find(name: string): OperationHandle | undefined {
    this.forgetExpired();
    return this.operations.get(name)?.handle ?? super.find(name);
  }

  override snapshot(): SchedulerSnapshot {
    const inner = super.snapshot();
    const pending = [...this.looking.values()].map((op) => op.current());
    const answered = this.counts.hits + this.counts.lookupErrors;
    return {
      ...inner,
      queued: [...pending, ...inner.queued],
      counters: {
        ...inner.counters,
        // Merged here, the nested scheduler saw one submit for many.
        submitted: inner.counters.submitted + answered + this.counts.merged,
        merged: inner.counters.merged + this.counts.merged,
        completed: inner.counters.completed + answered,
        failed: inner.counters.failed + this.counts.lookupErrors,
      },
    };
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const outcome = failedOutcome(Code.UNAVAILABLE, `daemon stopping: scheduler "${this.name}" cancelled the action`);
    for (const op of this.looking.values()) op.finish(outcome, this.clock.now());
    await super.close();
  }

  private async check(op: RelayOperation, request: JobRequest): Promise<void> {
    let result: ActionResult | undefined;
    try {
      result = await this.lookup(request);
    } catch (err) {
      this.counts.lookupErrors++;
      throw withContext(`scheduler "${this.name}": looking action ${formatDigest(request.actionDigest)} up in its ac_store`, err);
    }
    if (this.closed) return;
    if (result !== undefined) {
      this.counts.hits++;
      op.finish({ result, status: { code: Code.OK, message: '', details: [] }, cachedResult: true }, this.clock.now());
      return;
    }
    op.follow(this.inner.submit(request));
  }

  private forgetExpired(): void {
    const now = this.clock.now();
    for (const [name, op] of this.operations) {
      const completedAt = op.current().completedAtMs;
      if (completedAt !== undefined && now - completedAt >= RETAIN_MS) this.operations.delete(name);
    }
  }
}
