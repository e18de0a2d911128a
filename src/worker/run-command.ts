// Runs one action's command: its own process group (detached), exactly the
// environment it is given, stdout and stderr written straight to files. A
// timeout or an abort kills the whole group (SIGKILL to the negative pid), so
// no grandchild outlives the action; so does the command's own exit, so a
// forgotten background process cannot keep writing outputs being uploaded.
// A program that cannot be started is an exit code (127 not found, 126 not
// executable) with the reason on stderr, like a shell reports it.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { constants } from 'node:os';

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

export async function runCommand(spec: CommandSpec): Promise<CommandRun> {
  const [program, ...args] = spec.argv;
  if (program === undefined) throw new Error('runCommand: empty argv');
  // Synchronous opens and closes (microseconds): the 'error' listener must be
  // attached in the same turn as spawn(), which reports a missing program on
  // the next tick.
  const stdout = openSync(spec.stdoutPath, 'wx');
  let stderr: number;
  try {
    stderr = openSync(spec.stderrPath, 'wx');
  } catch (err) {
    closeSync(stdout);
    throw err;
  }
  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', stdout, stderr],
    });
  } finally {
    // The child has its own copies of the descriptors.
    closeSync(stdout);
    closeSync(stderr);
  }

  return new Promise<CommandRun>((resolve, reject) => {
    let timedOut = false;
    let aborted = false;
    let timer: NodeJS.Timeout | undefined;
    const pid = child.pid;
    const killGroup = () => {
      if (pid === undefined) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    const done = () => {
      if (timer) clearTimeout(timer);
      spec.signal.removeEventListener('abort', onAbort);
    };

    child.once('error', (err: NodeJS.ErrnoException) => {
      done();
      if (pid !== undefined) {
        killGroup();
        reject(err);
        return;
      }
      // Never started: report it the way a shell would, as the action's own failure.
      const exitCode = err.code === 'EACCES' || err.code === 'ENOEXEC' ? NOT_EXECUTABLE_EXIT : NOT_FOUND_EXIT;
      appendFile(spec.stderrPath, `ncache worker: cannot run ${program}: ${err.message}\n`).then(
        () => resolve({ exitCode, timedOut: false, aborted: spec.signal.aborted }),
        reject,
      );
    });
    child.once('exit', (code, signal) => {
      // A process that never started is answered by the 'error' handler.
      if (pid === undefined) return;
      done();
      killGroup();
      const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
      resolve({ exitCode, timedOut, aborted });
    });

    if (pid === undefined) return;
    if (spec.signal.aborted) onAbort();
    else spec.signal.addEventListener('abort', onAbort, { once: true });
    if (spec.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, spec.timeoutMs);
    }
  });
}
