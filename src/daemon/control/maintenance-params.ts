// Params and mutual exclusion shared by the gc and verify control methods.
import type { StoreManager } from '../../stores/factory.js';
import { failedPrecondition, invalidArgument } from '../../util/errors.js';

export function optionalCount(params: Record<string, unknown>, name: string): number | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`${name}: expected a whole number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function optionalSeconds(params: Record<string, unknown>, name: string): number | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalidArgument(`${name}: expected a number of seconds >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function optionalBoolean(params: Record<string, unknown>, name: string): boolean | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidArgument(`${name}: expected true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** What runs on each daemon right now: gc and verify would trip over each other's removals. */
const running = new WeakMap<StoreManager, string>();

export async function exclusive<T>(stores: StoreManager, what: string, run: () => Promise<T>): Promise<T> {
  const other = running.get(stores);
  if (other !== undefined) {
    throw failedPrecondition(`a ${other} is already running in this daemon; wait for it to finish`);
  }
  running.set(stores, what);
  try {
    return await run();
  } finally {
    running.delete(stores);
  }
}
