// `ncache start / status / stop` as a user runs them: the BUILT bin/ncache.js,
// a detached daemon with its own state dir and runtime dir, real files.
// Build first (npm test does): npx tsc -p tsconfig.json
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controlPaths } from '../../src/daemon/control/paths.js';
import { processExists, readPidFile, writePidFile } from '../../src/daemon/control/pid-file.js';
import { MAX_LOG_BYTES, type StartResult } from '../../src/commands/start/run.js';
import type { StatusResult } from '../../src/commands/status/run.js';
import type { StopResult } from '../../src/commands/stop/run.js';
import { type CliRun, cliTestEnv, runNcache, shortTempDir } from '../helpers/cli-daemon.js';
import { testConfigText } from '../helpers/daemon-process.js';
import { createReapiClient } from '../helpers/grpc-client.js';
import { waitFor } from '../helpers/wait-for.js';

let dir: string;
let env: NodeJS.ProcessEnv;
let configPath: string;
/** Daemons started by a test, killed afterwards if the test did not stop them. */
const pids = new Set<number>();

const ncache = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliRun> => runNcache(args, { env: { ...env, ...extra } });

beforeEach(async () => {
  dir = await shortTempDir();
  env = cliTestEnv(dir);
  delete env.NCACHE_LOG_LEVEL;
  await mkdir(env.XDG_RUNTIME_DIR!, { recursive: true, mode: 0o700 });
  configPath = join(dir, 'config.json5');
  await writeFile(configPath, testConfigText({ dataDir: join(dir, 'data') }));
});

afterEach(async () => {
  for (const pid of pids) {
    if (processExists(pid)) process.kill(pid, 'SIGKILL');
  }
  pids.clear();
  await rm(dir, { recursive: true, force: true });
});

function json<T>(run: CliRun): T {
  expect(run.code, `exit code; stderr: ${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** Resolves once `pid` has exited (polling is the only signal for a process that is not our child). */
async function exitOf(pid: number): Promise<void> {
  await waitFor(() => !processExists(pid), { what: `pid ${pid} to exit`, intervalMs: 50 });
}

describe('ncache start / status / stop', () => {
  it('starts in the background, reports status, is idempotent, stops, and then says none runs', async () => {
    const paths = controlPaths(env);

    const started = json<StartResult>(await ncache(['start', '--config', configPath, '--json']));
    pids.add(started.pid);
    expect(started.status).toBe('started');
    expect(started.pid).not.toBe(process.pid);
    expect(processExists(started.pid)).toBe(true);
    expect(started.addresses).toHaveLength(1);
    expect(started.addresses[0]).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
    expect(started.configSource).toBe(configPath);
    expect(started.socketPath).toBe(paths.socketPath);
    expect(started.logFile).toBe(join(dir, 'state', 'daemon.log'));
    expect(started.bazelrcLines).toEqual([`build --remote_cache=${started.addresses[0]}`]);
    expect(started.cleaned).toEqual([]);

    // The files it leaves while running, with their permissions.
    expect(paths.socketPath.startsWith(join(dir, 'rt', 'ncache'))).toBe(true);
    expect(statSync(join(dir, 'rt', 'ncache')).mode & 0o777).toBe(0o700);
    const sock = statSync(paths.socketPath);
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(readPidFile(paths.pidFile)).toMatchObject({ pid: started.pid, socketPath: paths.socketPath, addresses: started.addresses });
    expect(readFileSync(started.logFile, 'utf8')).toContain(`ncache listening on ${started.addresses[0]}`);

    // It serves Bazel's protocol on the address it reported.
    const client = createReapiClient(started.addresses[0]!.slice('grpc://'.length));
    try {
      await client.uploadBlob(Buffer.from('a blob for status'));
    } finally {
      client.close();
    }

    const status = json<StatusResult>(await ncache(['status', '--json']));
    expect(status).toMatchObject({
      pid: started.pid,
      configSource: configPath,
      addresses: started.addresses,
      socketPath: paths.socketPath,
      stateDir: join(dir, 'state'),
      catalogPath: join(dir, 'state', 'catalog.sqlite'),
      bazelrcLines: started.bazelrcLines,
    });
    expect(status.version).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
    expect(Date.parse(status.startedAt)).not.toBeNaN();
    const casTiers = status.stores.find((s) => s.name === 'CAS')!.tiers;
    expect(casTiers.map((t) => t.kind)).toEqual(['verify', 'filesystem']);
    expect(casTiers[1]).toMatchObject({ maxBytes: 20_000_000_000, count: 1 });
    // The filesystem tier counts what the file occupies on disk (at least its length).
    expect(casTiers[1]!.usedBytes).toBeGreaterThanOrEqual('a blob for status'.length);
    expect(status.uploadBacklog).toMatchObject({ blobs: 0, bytes: 0, byStore: [] });

    const text = await ncache(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`is running (pid ${started.pid})`);
    expect(text.stdout).toContain(started.addresses[0]);
    expect(text.stdout).toMatch(/filesystem +[\d.]+ k?B \/ 20 GB, 1 entries/);

    // Again: nothing new starts.
    const again = await ncache(['start', '--config', configPath]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`ncache is already running (pid ${started.pid}) on ${started.addresses[0]}`);
    const againJson = json<StartResult>(await ncache(['start', '--json']));
    expect(againJson).toMatchObject({ status: 'already-running', pid: started.pid, bazelrcLines: started.bazelrcLines });

    const stopped = json<StopResult>(await ncache(['stop', '--json']));
    expect(stopped).toEqual({ status: 'stopped', pid: started.pid, force: false, killed: false, cleaned: [] });
    // stop returns once the process is gone, and serve removed its files.
    expect(processExists(started.pid)).toBe(false);
    expect(existsSync(paths.pidFile)).toBe(false);
    expect(existsSync(paths.socketPath)).toBe(false);
    expect(readFileSync(started.logFile, 'utf8')).toContain('shutdown requested through the control socket');

    const none = await ncache(['status']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no ncache daemon is running (no control socket at ${paths.socketPath}); start one with \`ncache start\``);
    expect(none.stdout).toBe('');

    // Stopping again is not an error.
    const twice = await ncache(['stop']);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain('no ncache daemon is running; nothing to stop');
  });

  it('cleans up the pid file and socket a SIGKILLed daemon left behind, and starts a new one', async () => {
    const paths = controlPaths(env);
    const first = json<StartResult>(await ncache(['start', '--config', configPath, '--json']));
    pids.add(first.pid);
    process.kill(first.pid, 'SIGKILL');
    await exitOf(first.pid);
    // A crash leaves both files.
    expect(readPidFile(paths.pidFile)?.pid).toBe(first.pid);
    expect(statSync(paths.socketPath).isSocket()).toBe(true);

    const status = await ncache(['status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('no ncache daemon is running');

    const second = await ncache(['start', '--config', configPath]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`removed ${paths.pidFile} (left by a daemon that is gone)`);
    expect(second.stdout).toContain(`removed ${paths.socketPath} (left by a daemon that is gone)`);
    const pid = Number(/ncache started \(pid (\d+)\)/.exec(second.stdout)?.[1]);
    pids.add(pid);
    expect(pid).not.toBe(first.pid);
    expect(json<StatusResult>(await ncache(['status', '--json'])).pid).toBe(pid);

    const stop = await ncache(['stop', '--force', '--timeout', '30']);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain(`ncache stopped (pid ${pid})`);
    expect(processExists(pid)).toBe(false);
  });

  it('two starts at once end with one daemon, and both succeed', async () => {
    const [a, b] = await Promise.all([
      ncache(['start', '--config', configPath, '--json']),
      ncache(['start', '--config', configPath, '--json']),
    ]);
    const ra = json<StartResult>(a);
    const rb = json<StartResult>(b);
    pids.add(ra.pid).add(rb.pid);
    expect(ra.pid).toBe(rb.pid);
    expect([ra.status, rb.status]).toContain('started');
    expect(json<StatusResult>(await ncache(['status', '--json'])).pid).toBe(ra.pid);
    expect(json<StopResult>(await ncache(['stop', '--json'])).status).toBe('stopped');
  });

  it('stop cleans up after a crashed daemon too, and says nothing was running', async () => {
    const paths = controlPaths(env);
    const first = json<StartResult>(await ncache(['start', '--config', configPath, '--json']));
    pids.add(first.pid);
    process.kill(first.pid, 'SIGKILL');
    await exitOf(first.pid);
    const stop = json<StopResult>(await ncache(['stop', '--json']));
    expect(stop.status).toBe('not-running');
    expect(stop.cleaned.sort()).toEqual([paths.pidFile, paths.socketPath].sort());
    expect(existsSync(paths.pidFile)).toBe(false);
  });

  it('reports a daemon that dies while starting with the end of its log, exit 1', async () => {
    // Its gRPC port is taken: serve fails after loading the config.
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await writeFile(configPath, testConfigText({ dataDir: join(dir, 'data'), socketAddress: `127.0.0.1:${port}` }));
      const run = await ncache(['start', '--config', configPath]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('the daemon exited during start (exit code 1)');
      expect(run.stderr).toContain(join(dir, 'state', 'daemon.log'));
      expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the address is already in use`);
    } finally {
      blocker.close();
    }
    expect(existsSync(controlPaths(env).pidFile)).toBe(false);
  });

  it('treats a live daemon process whose socket is closed as stopping: status says so, stop waits for it', async () => {
    const paths = controlPaths(env);
    // A process that looks like ncache (its command line says so) and never answers, like a daemon mid-stop.
    const fake = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'ncache-stopping'], { stdio: 'ignore' });
    pids.add(fake.pid!);
    const exited = new Promise((resolve) => fake.once('exit', resolve));
    await mkdir(paths.stateDir, { recursive: true });
    writePidFile(paths.pidFile, { pid: fake.pid!, socketPath: paths.socketPath, startedAt: new Date().toISOString(), addresses: [] });

    const status = await ncache(['status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(`the ncache daemon (pid ${fake.pid}) does not answer on ${paths.socketPath}; it is probably stopping`);

    const start = await ncache(['start', '--config', configPath]);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain(`an ncache daemon (pid ${fake.pid}) is alive but does not answer`);

    // It never exits by itself: --force ends it at the timeout.
    const stop = json<StopResult>(await ncache(['stop', '--force', '--timeout', '0.5', '--json']));
    expect(stop).toMatchObject({ status: 'stopped', pid: fake.pid, killed: true });
    await exited;
    expect(existsSync(paths.pidFile)).toBe(false);
  });

  it('works with a relative NCACHE_STATE_DIR, resolved against the current directory', async () => {
    const rel = (args: string[]) => runNcache(args, { env: { ...env, NCACHE_STATE_DIR: 'state' }, cwd: dir });
    const started = json<StartResult>(await rel(['start', '--config', configPath, '--json']));
    pids.add(started.pid);
    expect(started.socketPath).toBe(controlPaths(env).socketPath);
    expect(json<StatusResult>(await rel(['status', '--json'])).pid).toBe(started.pid);
    // The absolute spelling names the same daemon.
    expect(json<StatusResult>(await ncache(['status', '--json'])).pid).toBe(started.pid);
    expect(existsSync(join(dir, 'state', 'catalog.sqlite'))).toBe(true);
    expect(json<StopResult>(await rel(['stop', '--json'])).status).toBe('stopped');
  });

  it('moves a log past its size limit aside when it starts', async () => {
    const logFile = join(dir, 'state', 'daemon.log');
    await mkdir(join(dir, 'state'), { recursive: true });
    await writeFile(logFile, Buffer.alloc(MAX_LOG_BYTES + 1, 'x'));
    const started = json<StartResult>(await ncache(['start', '--config', configPath, '--json']));
    pids.add(started.pid);
    expect(statSync(`${logFile}.1`).size).toBe(MAX_LOG_BYTES + 1);
    const log = readFileSync(logFile, 'utf8');
    expect(log).toContain('ncache listening on');
    expect(log).not.toContain('xxxx');
    expect(json<StopResult>(await ncache(['stop', '--json'])).status).toBe('stopped');
  });

  it('reports a bad config directly, before starting anything', async () => {
    await writeFile(configPath, '{ stores: [ { name: "CAS", memory: { eviction_policy: { max_bytes: "lots" } } } ], servers: [] }');
    const run = await ncache(['start', '--config', configPath]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('stores[0].memory.eviction_policy.max_bytes');
    expect(existsSync(join(dir, 'state', 'daemon.log'))).toBe(false);
  });

  it('rejects a bad --timeout as a usage error (exit 2)', async () => {
    for (const args of [['start', '--timeout', 'soon'], ['stop', '--timeout', '-1']]) {
      const run = await ncache(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain('--timeout must be a positive number of seconds');
    }
  });

  it('has --help with an example for each command', async () => {
    for (const command of ['start', 'stop', 'status']) {
      const run = await ncache([command, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Example:');
      expect(run.stdout).toContain(`ncache ${command}`);
    }
  });
});
