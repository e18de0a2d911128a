// Per-instance lookup for a service, with the error REAPI clients need to see
// when they use an instance name the config does not define.
import { invalidArgument } from '../util/errors.js';

export class InstanceMap<T> {
  constructor(
    /** The service, for messages: "CAS", "action cache", ... */
    private readonly service: string,
    private readonly entries: ReadonlyMap<string, T>,
  ) {}

  /** The value for an instance name, or INVALID_ARGUMENT naming it and the configured ones. */
  get(instanceName: string): T {
    const value = this.entries.get(instanceName);
    if (value !== undefined) return value;
    throw invalidArgument(
      `unknown instance name ${JSON.stringify(instanceName)} for the ${this.service} service ` +
        `(configured: ${this.names().map((n) => JSON.stringify(n)).join(', ') || 'none'})`,
    );
  }

  find(instanceName: string): T | undefined {
    return this.entries.get(instanceName);
  }

  has(instanceName: string): boolean {
    return this.entries.has(instanceName);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}
