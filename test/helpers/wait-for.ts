// Polls state the test cannot be told about (a daemon, a bucket, a child
// process, a background uploader) until it is ready: a readiness check with a
// bound, never a blind sleep.

export interface WaitOptions {
  /** What is awaited, named in the timeout error; a function can describe the state found at the deadline. */
  what: string | (() => string | Promise<string>);
  /** Default 30 s: under vitest's 60 s test timeout, so this error is the one reported. */
  timeoutMs?: number;
  /** Pause between checks, default 100 ms; 0 checks again on the next turn of the event loop. */
  intervalMs?: number;
}

type Ready<T> = Exclude<T, undefined | false>;

const isReady = <T>(value: T): value is Ready<T> => value !== undefined && value !== false;

/** Checks `condition` until it returns something other than undefined or false, and returns that; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(condition: () => T | Promise<T>, opts: WaitOptions): Promise<Ready<T>> {
  const { what, timeoutMs = 30_000, intervalMs = 100 } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (isReady(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : await what()}`);
    }
    await new Promise((resolve) => (intervalMs > 0 ? setTimeout(resolve, intervalMs) : setImmediate(resolve)));
  }
}
