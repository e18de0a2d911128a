// NativeLink's `property_modifier` scheduler: changes each action's platform
// properties (property-modifications.ts) and hands it to the scheduler nested
// in its config. Everything else is the nested scheduler's: its operations,
// its workers, its snapshot (under this scheduler's name).
import type { PropertyModification } from '../config/types.js';
import type { JobRequest } from './job.js';
import { NestingScheduler } from './nesting-scheduler.js';
import { modifyProperties } from './property-modifications.js';
import type { OperationHandle, Scheduler } from './scheduler.js';

export class PropertyModifierScheduler extends NestingScheduler {
  constructor(
    name: string,
    private readonly modifications: readonly PropertyModification[],
    inner: Scheduler,
  ) {
    super(name, 'property_modifier', inner);
  }

  submit(request: JobRequest): OperationHandle {
    return this.inner.submit({ ...request, platform: modifyProperties(request.platform, this.modifications) });
  }
}
