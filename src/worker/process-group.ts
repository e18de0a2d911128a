// Killing an action's whole process group (its pid is the group id: actions
// start detached), for the timeout, abort and lost-spawner paths alike.

/** SIGKILLs process group `group`; false if it was already gone. */
export function killProcessGroup(group: number): boolean {
  try {
    process.kill(-group, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
