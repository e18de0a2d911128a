// A scheduler spec may nest another (cache_lookup and property_modifier
// wrap the one in their `scheduler` field). What the rest of the config
// cares about is the innermost one: workers attach to it, and it decides
// whether actions run here (`simple`) or elsewhere.
import type { SchedulerKind, SchedulerSpec } from './types.js';

/** The kinds from outermost to innermost: ["cache_lookup", "property_modifier", "simple"]. */
export function schedulerKinds(spec: SchedulerSpec): SchedulerKind[] {
  const kinds: SchedulerKind[] = [];
  for (let s: SchedulerSpec | undefined = spec; s !== undefined; s = 'scheduler' in s ? s.scheduler : undefined) kinds.push(s.kind);
  return kinds;
}

/** The scheduler at the bottom of the nesting, with its config path below `path` (e.g. "schedulers[0].cache_lookup.scheduler"). */
export function innermostScheduler(spec: SchedulerSpec, path: string): { spec: SchedulerSpec; path: string } {
  let s = spec;
  let at = path;
  while ('scheduler' in s) {
    at = `${at}.${s.kind}.scheduler`;
    s = s.scheduler;
  }
  return { spec: s, path: at };
}
