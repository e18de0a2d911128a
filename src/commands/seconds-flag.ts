// Flags that take a number of seconds (--timeout, --interval).
import { UsageError } from './exit.js';

/** A positive number of seconds, as milliseconds; anything else is a usage error (exit 2). */
export function secondsFlag(text: string, flag: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`${flag} must be a positive number of seconds, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}
