// NativeLink's `property_modifier` scheduler: changes each action's platform
// properties (property-modifications.ts) and hands it to the scheduler nested
// in its config. Everything else is the nested scheduler's: its operations,
// its workers, its snapshot (under this scheduler's name).
import type { PropertyModification } from '../config/types.js';
import type { ExecutionWorker, JobRequest } from './job.js';
import { modifyProperties } from './property-modifications.js';
import type { OperationHandle, Scheduler, SchedulerSnapshot } from './scheduler.js';

export class PropertyModifierScheduler implements Scheduler {
  constructor(
    readonly name: string,
    private readonly modifications: readonly PropertyModification[],
    private readonly inner: Scheduler,
  ) {}

  submit(request: JobRequest): OperationHandle {
    return this.inner.submit({ ...request, platform: modifyProperties(request.platform, this.modifications) });
  }

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
    return { ...inner, name: this.name, kinds: ['property_modifier', ...(inner.kinds ?? ['simple'])] };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
