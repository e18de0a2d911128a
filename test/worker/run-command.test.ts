// Running actions for real: exact environments, entrypoint wrappers,
// timeouts and aborts that kill the whole process group (grandchildren too),
// programs that do not exist, and the tamper check on hardlinked inputs.
import { readFile, readdir, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { readBuffer } from '../../src/stores/store.js';
import { WorkerLostError } from '../../src/scheduler/job.js';
import { type Digest, digestOf } from '../../src/util/digest.js';
import { cleanupsAfterEach } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { control, dead, type WorkerFixture, workerFixture } from './worker-fixture.js';

const cleanups = cleanupsAfterEach();

async function text(f: WorkerFixture, digest: Digest | null): Promise<string> {
  return digest === null ? '' : (await readBuffer(f.cas, digest)).toString();
}

const SH = '/bin/sh';

describe('running a command', () => {
  it('gives it exactly the Command environment, nothing of the daemon', async () => {
    const f = await workerFixture(cleanups);
    const root = await f.putTree({});
    const env = [
      { name: 'A', value: '1' },
      { name: 'WITH_SPACE', value: 'x y' },
    ];
    const outcome = await f.worker.run(await f.job({ arguments: ['/usr/bin/env'], environmentVariables: env }, root), control());
    expect(outcome.result.exitCode).toBe(0);
    expect((await text(f, outcome.result.stdoutDigest)).split('\n').filter(Boolean).sort()).toEqual(['A=1', 'WITH_SPACE=x y']);
  });

  it('adds additional_environment (value, property, timeout_millis, action_directory); the Command wins a clash', async () => {
    const f = await workerFixture(cleanups, {
      additional_environment: {
        FIXED: { value: 'fixed' },
        OS: { property: 'OSFamily' },
        NONE: { property: 'absent' },
        TIMEOUT: 'timeout_millis',
        DIR: 'action_directory',
        CLASH: { value: 'worker' },
      },
    });
    const root = await f.putTree({});
    const job = await f.job({ arguments: ['/usr/bin/env'], environmentVariables: [{ name: 'CLASH', value: 'command' }] }, root, {
      job: { platform: { OSFamily: ['linux'] }, timeoutS: 7 },
    });
    const outcome = await f.worker.run(job, control());
    const lines = (await text(f, outcome.result.stdoutDigest)).split('\n').filter(Boolean);
    const env = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({ FIXED: 'fixed', OS: 'linux', NONE: '', TIMEOUT: '7000', CLASH: 'command' });
    expect(env.DIR).toMatch(new RegExp(`^${f.workDirectory}/action-`));
  });

  it('runs in working_directory, through the entrypoint when one is set', async () => {
    const f = await workerFixture(cleanups);
    const wrapper = join(f.dir, 'wrapper.sh');
    await writeFile(wrapper, '#!/bin/sh\necho "wrapped: $*"\nexec "$@"\n');
    await chmod(wrapper, 0o755);
    const g = await workerFixture(cleanups, { entrypoint: wrapper });
    const root = await g.putTree({ sub: { 'f.txt': 'in sub' } });
    const job = await g.job({ arguments: ['/bin/cat', 'f.txt'], workingDirectory: 'sub' }, root);
    const outcome = await g.worker.run(job, control());
    expect(outcome.result.exitCode).toBe(0);
    expect(await text(g, outcome.result.stdoutDigest)).toBe('wrapped: /bin/cat f.txt\nin sub');
  });

  it('reports a non-zero exit code as a completed run (status OK)', async () => {
    const f = await workerFixture(cleanups);
    const outcome = await f.worker.run(await f.job({ arguments: [SH, '-c', 'echo oops >&2; exit 3'] }, await f.putTree({})), control());
    expect(outcome.status.code).toBe(GrpcStatus.OK);
    expect(outcome.result.exitCode).toBe(3);
    expect(await text(f, outcome.result.stderrDigest)).toBe('oops\n');
  });

  it('answers a program that does not exist with exit code 127 and the reason on stderr', async () => {
    const f = await workerFixture(cleanups);
    const outcome = await f.worker.run(await f.job({ arguments: ['/no/such/program', 'x'] }, await f.putTree({})), control());
    expect(outcome.status.code).toBe(GrpcStatus.OK);
    expect(outcome.result.exitCode).toBe(127);
    expect(await text(f, outcome.result.stderrDigest)).toContain('cannot run /no/such/program');
    // The worker goes on running actions.
    const next = await f.worker.run(await f.job({ arguments: ['/bin/true'] }, await f.putTree({})), control());
    expect(next.result.exitCode).toBe(0);
  });

  it('answers a program that is not executable with exit code 126', async () => {
    const f = await workerFixture(cleanups);
    const outcome = await f.worker.run(await f.job({ arguments: ['./data.txt'] }, await f.putTree({ 'data.txt': 'not a program' })), control());
    expect(outcome.result.exitCode).toBe(126);
    expect(await text(f, outcome.result.stderrDigest)).toContain('cannot run ./data.txt');
  });

  it('kills the whole process group on timeout (grandchildren too) and answers DEADLINE_EXCEEDED with the output so far', async () => {
    const f = await workerFixture(cleanups);
    const script = 'sleep 300 & echo "$!"; echo started >&2; wait';
    const job = await f.job({ arguments: [SH, '-c', script] }, await f.putTree({}), { job: { timeoutS: 0.5 } });
    const outcome = await f.worker.run(job, control());
    expect(outcome.status.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(outcome.status.message).toContain('timed out after 0.5 s');
    expect(await text(f, outcome.result.stderrDigest)).toBe('started\n');
    const grandchild = Number((await text(f, outcome.result.stdoutDigest)).trim());
    expect(grandchild).toBeGreaterThan(1);
    await waitFor(() => dead(grandchild), { what: `grandchild ${grandchild} to be killed`, timeoutMs: 10_000 });
    expect(await f.ac.has([job.actionDigest])).toEqual([undefined]);
    await waitFor(async () => (await readdir(f.workDirectory)).every((n) => !n.startsWith('action-')), { what: 'the action directory to be removed' });
  });

  it('kills what the command left running in the background when it exits', async () => {
    const f = await workerFixture(cleanups);
    const outcome = await f.worker.run(await f.job({ arguments: [SH, '-c', 'sleep 300 & echo "$!"'] }, await f.putTree({})), control());
    const background = Number((await text(f, outcome.result.stdoutDigest)).trim());
    await waitFor(() => dead(background), { what: `background process ${background} to be killed`, timeoutMs: 10_000 });
  });

  it('refuses an action timeout above max_action_timeout, naming both', async () => {
    const f = await workerFixture(cleanups, { max_action_timeout: 60 });
    const outcome = await f.worker.run(await f.job({ arguments: ['/bin/true'] }, await f.putTree({}), { job: { timeoutS: 61 } }), control());
    expect(outcome.status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(outcome.status.message).toContain('action timeout 61 s is above the worker\'s max_action_timeout of 60 s');
  });

  it('on abort kills the group, removes the directory and rejects', async () => {
    const f = await workerFixture(cleanups);
    const pidFile = join(f.dir, 'pid');
    const job = await f.job({ arguments: [SH, '-c', `sleep 300 & echo "$!" > ${pidFile}; wait`] }, await f.putTree({}));
    const abort = new AbortController();
    const run = f.worker.run(job, { signal: abort.signal });
    const pid = Number(await waitFor(async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() || undefined, { what: 'the action to start' }));
    abort.abort(new Error('client gone'));
    await expect(run).rejects.toThrow('client gone');
    await waitFor(() => dead(pid), { what: `process ${pid} to be killed` });
    await waitFor(async () => (await readdir(f.workDirectory)).every((n) => !n.startsWith('action-')), { what: 'the action directory to be removed' });
  });

  it('when the spawner process dies, the running action is killed and rejects as a lost worker; the next run starts a new spawner', async () => {
    const f = await workerFixture(cleanups);
    const pidFile = join(f.dir, 'pids');
    const run = f.worker.run(await f.job({ arguments: [SH, '-c', `echo "$$ $PPID" > ${pidFile}; sleep 300`] }, await f.putTree({})), control());
    const written = async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim().split(' ').map(Number);
    const [pid, spawner] = await waitFor(async () => ((await written()).length === 2 ? written() : undefined), { what: 'the action to start' });
    // The command's parent is the spawner, not this (daemon) process.
    expect(spawner).not.toBe(process.pid);
    const lost = expect(run).rejects.toBeInstanceOf(WorkerLostError);
    process.kill(spawner!, 'SIGKILL');
    await lost;
    await waitFor(() => dead(pid!), { what: `process ${pid} to be killed` });
    const next = await f.worker.run(await f.job({ arguments: [SH, '-c', 'echo "$PPID"'] }, await f.putTree({})), control());
    expect(next.result.exitCode).toBe(0);
    expect(Number(await text(f, next.result.stdoutDigest))).not.toBe(spawner);
  });

  it('close() kills running actions, removes their directories, and the runs reject as a lost worker', async () => {
    const f = await workerFixture(cleanups);
    const pidFile = join(f.dir, 'pid');
    const run = f.worker.run(await f.job({ arguments: [SH, '-c', `echo "$$" > ${pidFile}; sleep 300`] }, await f.putTree({})), control());
    const pid = Number(await waitFor(async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() || undefined, { what: 'the action to start' }));
    const lost = expect(run).rejects.toBeInstanceOf(WorkerLostError);
    await f.worker.close();
    await lost;
    expect(await dead(pid)).toBe(true);
    expect((await readdir(f.workDirectory)).filter((n) => n.startsWith('action-'))).toEqual([]);
    await expect(f.worker.run(await f.job({ arguments: ['/bin/true'] }, await f.putTree({})), control())).rejects.toBeInstanceOf(WorkerLostError);
  });
});

describe('the tamper check', () => {
  it('evicts from the CAS an input the action wrote into through its hardlink (as root), and keeps the others', async () => {
    const f = await workerFixture(cleanups);
    const victim = digestOf(Buffer.from('original bytes'));
    const bystander = digestOf(Buffer.from('left alone'));
    const root = await f.putTree({ 'victim.txt': 'original bytes', 'bystander.txt': 'left alone' });
    // Same size, so only the mtime (confirmed by the hash) gives it away; then a size change.
    const job = await f.job({ arguments: [SH, '-c', 'printf "ORIGINAL BYTES" > victim.txt'] }, root);
    const outcome = await f.worker.run(job, control());
    expect(outcome.result.exitCode).toBe(0);
    expect(await f.fs.has([victim, bystander])).toEqual([undefined, bystander.sizeBytes]);

    const root2 = await f.putTree({ 'victim.txt': 'original bytes' });
    expect(await f.fs.has([victim])).toEqual([victim.sizeBytes]);
    await f.worker.run(await f.job({ arguments: [SH, '-c', 'echo appended >> victim.txt'] }, root2), control());
    expect(await f.fs.has([victim])).toEqual([undefined]);
  });

  it('keeps an input whose mtime changed but whose bytes did not (touch, or the store recording access times)', async () => {
    const f = await workerFixture(cleanups);
    const kept = digestOf(Buffer.from('unchanged'));
    const root = await f.putTree({ 'kept.txt': 'unchanged' });
    const outcome = await f.worker.run(await f.job({ arguments: ['/usr/bin/touch', 'kept.txt'] }, root), control());
    expect(outcome.result.exitCode).toBe(0);
    expect(await f.fs.has([kept])).toEqual([kept.sizeBytes]);
  });

  it('drops an executable copy the action modified, and the next action gets the original bytes', async () => {
    const f = await workerFixture(cleanups);
    const root = await f.putTree({ 'tool.sh': { text: '#!/bin/sh\necho original\n', executable: true } });
    await f.worker.run(await f.job({ arguments: [SH, '-c', 'echo "echo hacked" >> tool.sh'] }, root), control());
    const outcome = await f.worker.run(await f.job({ arguments: ['./tool.sh'] }, root), control());
    expect(await text(f, outcome.result.stdoutDigest)).toBe('original\n');
  });
});

describe('timeouts handled by the entrypoint (timeout_handled_externally)', () => {
  it('sets no timer, and a side channel file saying {"failure": "timeout"} makes the run DEADLINE_EXCEEDED', async () => {
    const f = await workerFixture(cleanups, {
      timeout_handled_externally: true,
      additional_environment: { SIDE: 'side_channel_file', LIMIT: 'timeout_millis' },
    });
    const script = 'echo "$LIMIT"; printf \'{"failure": "timeout"}\' > "$SIDE"; exit 1';
    const job = await f.job({ arguments: [SH, '-c', script] }, await f.putTree({}), { job: { timeoutS: 0.2 } });
    const outcome = await f.worker.run(job, control());
    expect(outcome.status.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(await text(f, outcome.result.stdoutDigest)).toBe('200\n');

    const quiet = await f.job({ arguments: [SH, '-c', 'sleep 0.5; echo finished'] }, await f.putTree({}), { job: { timeoutS: 0.2 } });
    const finished = await f.worker.run(quiet, control());
    expect(finished.status.code).toBe(GrpcStatus.OK);
    expect(await text(f, finished.result.stdoutDigest)).toBe('finished\n');
  });
});

describe('slots and properties', () => {
  it('offers the platform_properties, and as many slots as cpu_count says (else the cores)', async () => {
    const f = await workerFixture(cleanups, { platform_properties: { cpu_count: { values: ['3'] }, OSFamily: { values: ['linux'] } } });
    expect(f.worker.slots).toBe(3);
    expect(f.worker.properties).toEqual({ cpu_count: ['3'], OSFamily: ['linux'] });
    const g = await workerFixture(cleanups);
    expect(g.worker.slots).toBe((await import('node:os')).availableParallelism());
  });
});

describe('a work_directory the worker cannot use', () => {
  it('fails the run as a lost worker (the scheduler retries or answers UNAVAILABLE), naming the directory', async () => {
    const f = await workerFixture(cleanups);
    const notADirectory = join(f.dir, 'a-file');
    await writeFile(notADirectory, 'x');
    const g = await workerFixture(cleanups, { work_directory: join(notADirectory, 'work') });
    const run = g.worker.run(await g.job({ arguments: ['/bin/true'] }, await g.putTree({})), control());
    await expect(run).rejects.toBeInstanceOf(WorkerLostError);
    await expect(run).rejects.toThrow(`cannot use work_directory ${notADirectory}/work`);
  });
});
