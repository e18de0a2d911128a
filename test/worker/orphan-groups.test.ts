// An action whose spawner died before reporting its pid: found by the output
// files it was given and killed, group and all, with real processes.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkerLostError } from '../../src/scheduler/job.js';
import { groupsWritingTo, killGroupsWritingTo } from '../../src/worker/orphan-groups.js';
import { runCommand } from '../../src/worker/run-command.js';
import type { SpawnEnd } from '../../src/worker/spawner.js';
import { cleanupsAfterEach, tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { dead } from './worker-fixture.js';

const cleanups = cleanupsAfterEach();

interface Group {
  readonly leader: number;
  readonly background: number;
}

/**
 * Starts `script` under sh as a detached group (its own session, like an
 * action) with stdout and stderr on the new files given; resolves once the
 * background process it starts first has written its pid to `pidFile`.
 * Killed at cleanup.
 */
async function startShellGroup(stdout: string, stderr: string, pidFile: string, script: string): Promise<Group> {
  const out = openSync(stdout, 'wx');
  const err = openSync(stderr, 'wx');
  const child = spawn('/bin/sh', ['-c', `sleep 300 & echo "$!" > ${pidFile}; ${script}`], { detached: true, stdio: ['ignore', out, err] });
  closeSync(out);
  closeSync(err);
  const leader = child.pid!;
  cleanups.push(() => {
    try {
      process.kill(-leader, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  const background = Number(
    await waitFor(async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() || undefined, { what: `${script} to start` }),
  );
  return { leader, background };
}

/** startShellGroup with files named after `name` in `dir`. */
async function startGroup(dir: string, name: string, script: string): Promise<Group & { stdout: string; stderr: string }> {
  const stdout = join(dir, `${name}.stdout`);
  const stderr = join(dir, `${name}.stderr`);
  return { ...(await startShellGroup(stdout, stderr, join(dir, `${name}.pid`), script)), stdout, stderr };
}

describe('finding an action by its output files', () => {
  it('finds the group writing to the files and kills all of it, leaving other groups alone', async () => {
    const dir = await tempDir('ncache-orphans-', cleanups);
    const orphan = await startGroup(dir, 'orphan', 'wait');
    const bystander = await startGroup(dir, 'bystander', 'wait');

    expect(await groupsWritingTo([orphan.stdout, orphan.stderr])).toEqual([orphan.leader]);
    expect(await killGroupsWritingTo([orphan.stdout, orphan.stderr])).toEqual([orphan.leader]);
    await waitFor(async () => (await dead(orphan.leader)) && (await dead(orphan.background)), { what: 'the orphaned group to die' });
    expect(await dead(bystander.leader)).toBe(false);
    expect(await dead(bystander.background)).toBe(false);
  });

  it('finds a group whose leader has exited through a process that still holds stderr', async () => {
    const dir = await tempDir('ncache-orphans-', cleanups);
    // The leader exits at once; the background sleep keeps the inherited descriptors.
    const orphan = await startGroup(dir, 'orphan', 'exit 0');
    await waitFor(() => dead(orphan.leader), { what: 'the leader to exit' });
    expect(await dead(orphan.background)).toBe(false);
    expect(await killGroupsWritingTo([join(dir, 'nothing.stdout'), orphan.stderr])).toEqual([orphan.leader]);
    await waitFor(() => dead(orphan.background), { what: 'the background process to die' });
  });

  it('finds nothing for files no process holds', async () => {
    const dir = await tempDir('ncache-orphans-', cleanups);
    expect(await groupsWritingTo([join(dir, 'a.stdout'), join(dir, 'a.stderr')])).toEqual([]);
  });
});

describe('runCommand when the spawner is lost before it reports the pid', () => {
  it('kills the command it had started and rejects as a lost worker', async () => {
    const dir = await tempDir('ncache-orphans-', cleanups);
    let started: Group | undefined;
    // A spawner that starts the command (as the real one does) and dies before its 'started' message.
    const spawner = {
      async spawn(request: { stdoutPath: string; stderrPath: string }): Promise<SpawnEnd> {
        started = await startShellGroup(request.stdoutPath, request.stderrPath, join(dir, 'pid'), 'wait');
        throw new WorkerLostError('test spawner: the spawner process was killed by SIGKILL while the command ran');
      },
    };
    const run = runCommand(spawner, {
      argv: ['/bin/sh'],
      cwd: dir,
      env: {},
      stdoutPath: join(dir, 'stdout'),
      stderrPath: join(dir, 'stderr'),
      timeoutMs: undefined,
      signal: new AbortController().signal,
    });
    await expect(run).rejects.toBeInstanceOf(WorkerLostError);
    expect(started).toBeDefined();
    await waitFor(async () => (await dead(started!.leader)) && (await dead(started!.background)), { what: 'the orphaned command to be killed' });
  });
});
