// Platform-property matching for the `simple` scheduler, with NativeLink's
// property types (`supported_platform_properties`):
//   minimum  numeric; the worker's value must be >= the action's, and a
//            running action consumes its amount from the worker's free value
//   exact    the worker must offer the action's value
//   priority never required; a worker offering the value is preferred
//   ignore   dropped
// Pure functions over plain records, so the rules are testable as a table.
import type { PropertyMatch } from '../config/types.js';
import { failedPrecondition, invalidArgument } from '../util/errors.js';
import type { PlatformProperties } from './job.js';

export type SupportedProperties = Readonly<Record<string, PropertyMatch>>;

/** What an action asks of a worker, by property type. */
export interface Requirements {
  /** Amount of each `minimum` property the action needs (and consumes while it runs). */
  readonly minimum: Readonly<Record<string, number>>;
  /** Values the worker must offer, per `exact` property. */
  readonly exact: Readonly<Record<string, readonly string[]>>;
  /** Values a worker is preferred for offering, per `priority` property. */
  readonly preferred: Readonly<Record<string, readonly string[]>>;
}

/** A worker's `minimum` properties as amounts: its total, or what is still free. */
export type Capacity = Record<string, number>;

const NUMBER = /^\d+(\.\d+)?$/;

/**
 * Sorts an action's platform into requirements. Throws INVALID_ARGUMENT for a
 * property the scheduler does not list or a non-numeric `minimum` value.
 */
export function requirementsOf(schedulerName: string, supported: SupportedProperties, platform: PlatformProperties): Requirements {
  const minimum: Record<string, number> = {};
  const exact: Record<string, readonly string[]> = {};
  const preferred: Record<string, readonly string[]> = {};
  for (const [name, values] of Object.entries(platform)) {
    const match = Object.hasOwn(supported, name) ? supported[name] : undefined;
    switch (match) {
      case undefined: {
        const listed = Object.keys(supported);
        throw invalidArgument(
          `platform property "${name}" is not supported by scheduler "${schedulerName}" ` +
            (listed.length > 0 ? `(supported: ${listed.join(', ')})` : '(its supported_platform_properties is empty)'),
        );
      }
      case 'minimum':
        for (const value of values) {
          if (!NUMBER.test(value)) {
            throw invalidArgument(`platform property "${name}" of scheduler "${schedulerName}" is a minimum and needs a number, got "${value}"`);
          }
          // A name given twice must satisfy both: the larger amount does.
          minimum[name] = Math.max(minimum[name] ?? 0, Number(value));
        }
        break;
      case 'exact':
        exact[name] = values;
        break;
      case 'priority':
        preferred[name] = values;
        break;
      case 'ignore':
        break;
    }
  }
  return { minimum, exact, preferred };
}

/**
 * A worker's total amount of each `minimum` property the scheduler lists (the
 * largest value it declares). Throws INVALID_ARGUMENT for a non-numeric one.
 */
export function capacityOf(workerId: string, supported: SupportedProperties, properties: PlatformProperties): Capacity {
  const capacity: Capacity = {};
  for (const [name, values] of Object.entries(properties)) {
    if (!Object.hasOwn(supported, name) || supported[name] !== 'minimum') continue;
    for (const value of values) {
      if (!NUMBER.test(value)) {
        throw invalidArgument(`worker "${workerId}": platform property "${name}" is a minimum and needs a number, got "${value}"`);
      }
      capacity[name] = Math.max(capacity[name] ?? 0, Number(value));
    }
  }
  return capacity;
}

/** The first requirement a worker can never meet, whatever it is running; undefined when it could run the action. */
export function neverMeets(req: Requirements, properties: PlatformProperties, total: Capacity): { property: string; wanted: string } | undefined {
  for (const [name, amount] of Object.entries(req.minimum)) {
    if ((total[name] ?? 0) < amount) return { property: name, wanted: `>= ${amount}` };
  }
  for (const [name, values] of Object.entries(req.exact)) {
    const offered = properties[name] ?? [];
    const missing = values.find((v) => !offered.includes(v));
    if (missing !== undefined) return { property: name, wanted: `"${missing}"` };
  }
  return undefined;
}

/** Whether a worker can run the action now, with the `minimum` amounts it has free. */
export function fitsNow(req: Requirements, properties: PlatformProperties, free: Capacity): boolean {
  return neverMeets(req, properties, free) === undefined;
}

/** How many of the action's `priority` values the worker offers: among fitting workers, more is better. */
export function preference(req: Requirements, properties: PlatformProperties): number {
  let score = 0;
  for (const [name, values] of Object.entries(req.preferred)) {
    const offered = properties[name] ?? [];
    for (const v of values) if (offered.includes(v)) score++;
  }
  return score;
}

/** Takes (sign -1) or gives back (sign +1) the action's `minimum` amounts. */
export function adjust(free: Capacity, req: Requirements, sign: 1 | -1): void {
  for (const [name, amount] of Object.entries(req.minimum)) free[name] = (free[name] ?? 0) + sign * amount;
}

/**
 * Throws FAILED_PRECONDITION naming the property when none of `workers` could
 * ever run the action. With no workers at all it does not throw: the scheduler
 * waits a bounded time for one instead.
 */
export function assertSatisfiable(
  schedulerName: string,
  req: Requirements,
  workers: readonly { properties: PlatformProperties; total: Capacity }[],
): void {
  let first: { property: string; wanted: string } | undefined;
  for (const w of workers) {
    const gap = neverMeets(req, w.properties, w.total);
    if (gap === undefined) return;
    first ??= gap;
  }
  if (first === undefined) return;
  const offered = workers.map((w) => offeredValue(first.property, w)).join(', ');
  throw failedPrecondition(
    `no worker of scheduler "${schedulerName}" can ever run this action: it needs platform property "${first.property}" ${first.wanted}, ` +
      `and the workers offer ${offered}`,
  );
}

function offeredValue(property: string, worker: { properties: PlatformProperties; total: Capacity }): string {
  const values = worker.properties[property];
  if (values === undefined || values.length === 0) return 'none';
  return values.map((v) => `"${v}"`).join('/');
}
