// The spawner: a small long-lived Node process that starts actions' commands
// for the daemon. Forking copies the page tables of the forking process; the
// daemon is large, this process is not, so each action's fork costs a
// fraction of the daemon's (and none of the daemon's main-thread time).
// It imports only Node built-ins to stay small. Messages on the IPC channel
// (JSON) are typed in spawner-protocol.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { SpawnReply, SpawnRequest } from './spawner-protocol.js';

function reply(message: SpawnReply): void {
  process.send?.(message);
}

function start(request: SpawnRequest): void {
  const { id, argv, cwd, env, stdoutPath, stderrPath } = request;
  const [program, ...args] = argv;
  let stdout: number | undefined;
  let stderr: number | undefined;
  let child: ChildProcess;
  try {
    if (program === undefined) throw new Error('empty argv');
    stdout = openSync(stdoutPath, 'wx');
    stderr = openSync(stderrPath, 'wx');
    child = spawn(program, args, { cwd, env, detached: true, stdio: ['ignore', stdout, stderr] });
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    reply({ type: 'failed', id, code, message });
    return;
  } finally {
    // The child has its own copies of the descriptors.
    if (stdout !== undefined) closeSync(stdout);
    if (stderr !== undefined) closeSync(stderr);
  }
  const pid = child.pid;
  child.once('error', (err: NodeJS.ErrnoException) => {
    if (pid === undefined) reply({ type: 'not-started', id, code: err.code, message: err.message });
    else reply({ type: 'failed', id, code: err.code, message: err.message });
  });
  if (pid === undefined) return;
  reply({ type: 'started', id, pid });
  child.once('exit', (code, signal) => {
    // The command's exit ends its whole group: no forgotten background process keeps writing outputs.
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    reply({ type: 'exit', id, code, signal });
  });
}

process.on('message', (message: SpawnRequest) => start(message));
// The daemon is gone: nothing is left to report to.
process.on('disconnect', () => process.exit(0));
