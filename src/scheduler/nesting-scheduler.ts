// What a scheduler that wraps another (cache_lookup, property_modifier) passes
// through unchanged: workers register with the nested scheduler, operations
// it does not know itself are the nested one's, closing closes what it wraps,
// and its snapshot is the nested one's under this name with its kind first.
import type { ExecutionWorker, JobRequest } from './job.js';
import type { OperationHandle, Scheduler, SchedulerSnapshot } from './scheduler.js';

export abstract class NestingScheduler implements Scheduler {
  constructor(
    readonly name: string,
    /** NativeLink's kind of the wrapping scheduler, shown first in the snapshot's kinds. */
    private readonly kind: string,
    protected readonly inner: Scheduler,
  ) {}

  abstract submit(request: JobRequest): OperationHandle;

  find(name: string): OperationHandle | undefined {
    return this.inner.find(name);
  }

  addWorker(worker: ExecutionWorker): void {
    this.inner.addWorker(worker);
  }

  removeWorker(id: string): void {
    this.inner.removeWorker(id);
  }

  snapshot(): SchedulerSnapshot {
    const inner = this.inner.snapshot();
    return { ...inner, name: this.name, kinds: [this.kind, ...(inner.kinds ?? ['simple'])] };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
