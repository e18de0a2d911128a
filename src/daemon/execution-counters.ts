// What the Execution service itself decided, daemon-wide since start, for
// `ncache stats`: the scheduler counts what it ran (SchedulerCounters), these
// count the requests that never reached it.
export interface ExecuteCounters {
  /** Execute calls for a configured instance. */
  requests: number;
  /** Answered from the action cache, nothing run (`cached_result: true`). */
  cacheHits: number;
  /** Handed to a scheduler (queued, or joined to an identical action in flight). */
  queued: number;
  /** Answered FAILED_PRECONDITION because the Action, Command or input root was not in the CAS. */
  missingBlobs: number;
}

export function newExecuteCounters(): ExecuteCounters {
  return { requests: 0, cacheHits: 0, queued: 0, missingBlobs: 0 };
}
