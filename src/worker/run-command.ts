// Runs one action's command through the worker's spawner process: its own
// process group (detached), exactly the environment it is given, stdout and
// stderr written straight to files. A timeout or an abort kills the whole
// group (SIGKILL to the negative pid), so no grandchild outlives the action;
// so does the command's own exit (the spawner kills the group), so a
// forgotten background process cannot keep writing outputs being uploaded,
// and so does the spawner's death, even before it reported the pid
// (orphan-groups.ts).
// A program that cannot be started is an exit code (127 not found, 126 not
// executable) with the reason on stderr, like a shell reports it.
import { appendFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { WorkerLostError } from '../scheduler/job.js';
import { killGroupsWritingTo } from './orphan-groups.js';
import { killProcessGroup } from './process-group.js';
import type { SpawnEnd, Spawner } from './spawner.js';

export interface CommandSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /** Kill after this long; undefined: never (the entrypoint handles timeouts). */
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal;
}

export interface CommandRun {
  readonly exitCode: number;
  readonly timedOut: boolean;
  readonly aborted: boolean;
}

const NOT_FOUND_EXIT = 127;
const NOT_EXECUTABLE_EXIT = 126;

export async function runCommand(spawner: Pick<Spawner, 'spawn'>, spec: CommandSpec): Promise<CommandRun> {
  const program = spec.argv[0];
  if (program === undefined) throw new Error('runCommand: empty argv');
  let timedOut = false;
  let aborted = false;
  let timer: NodeJS.Timeout | undefined;
  let pid: number | undefined;
  const killGroup = () => {
    if (pid !== undefined) killProcessGroup(pid);
  };
  const onAbort = () => {
    aborted = true;
    killGroup();
  };
  const onStarted = (started: number) => {
    pid = started;
    if (spec.signal.aborted) onAbort();
    else spec.signal.addEventListener('abort', onAbort, { once: true });
    if (spec.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, spec.timeoutMs);
    }
  };
  const { argv, cwd, env, stdoutPath, stderrPath } = spec;
  let end: SpawnEnd;
  try {
    end = await spawner.spawn({ argv, cwd, env, stdoutPath, stderrPath }, onStarted);
  } catch (err) {
    // The spawner is gone (or the start failed): nothing else will stop the group.
    if (pid !== undefined) killGroup();
    // Gone before it told us the pid: find the group by the output files it was given.
    else if (err instanceof WorkerLostError) await killGroupsWritingTo([spec.stdoutPath, spec.stderrPath]);
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
    spec.signal.removeEventListener('abort', onAbort);
  }
  if (end.type === 'not-started') {
    // Never started: report it the way a shell would, as the action's own failure.
    const exitCode = end.code === 'EACCES' || end.code === 'ENOEXEC' ? NOT_EXECUTABLE_EXIT : NOT_FOUND_EXIT;
    await appendFile(spec.stderrPath, `ncache worker: cannot run ${program}: ${end.message}\n`);
    return { exitCode, timedOut: false, aborted: spec.signal.aborted };
  }
  const exitCode = end.code ?? 128 + (end.signal ? constants.signals[end.signal] : 0);
  return { exitCode, timedOut, aborted };
}
