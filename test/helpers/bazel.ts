// Drives a real Bazel (Debian's bazel-bootstrap, 4.2.3) against a throwaway
// copy of a workspace, isolated from the user's machine: its own output user
// root, its own HOME, no home or workspace rc files, local spawns and a fixed
// action environment so action keys do not depend on the caller's shell.
// Used by test/e2e/bazel.test.ts and by bench/.
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the committed fixtures live, whether this file runs from test/ or dist/test/. */
export function fixturesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'test', 'fixtures');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find test/fixtures above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The `bazel` executable on PATH, or undefined when Bazel is not installed. */
export function findBazel(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'bazel');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Counts from Bazel's `N processes: M remote cache hit, K internal, J local.` line (`J remote` with a remote executor). */
export interface ProcessSummary {
  total: number;
  /** Count per kind as Bazel names it: "remote cache hit", "internal", "local", "linux-sandbox", ... */
  byKind: Record<string, number>;
  remoteCacheHits: number;
  internal: number;
  /** Every process that was neither internal nor a remote cache hit: it ran (here or on a remote executor). */
  executed: number;
  /** Processes a remote executor ran (`--remote_executor`): Bazel's "remote" kind. */
  remoteExecuted: number;
  /** Processes that ran on this machine: executed ones that were not remote ("local", "linux-sandbox", ...). */
  localExecuted: number;
  line: string;
}

/** Parses the last process summary line in Bazel's output; undefined when there is none. */
export function parseProcessSummary(output: string): ProcessSummary | undefined {
  const pattern = /^(?:INFO: )?(\d+) process(?:es)?(?:: ([^\n]*?))?\.?[ \t]*$/gm;
  let last: RegExpExecArray | undefined;
  for (let m = pattern.exec(output); m; m = pattern.exec(output)) last = m;
  if (!last) return undefined;
  const byKind: Record<string, number> = {};
  for (const part of (last[2] ?? '').split(',')) {
    const item = /^\s*(\d+) (.+?)\s*$/.exec(part);
    if (item) byKind[item[2]!] = (byKind[item[2]!] ?? 0) + Number(item[1]);
  }
  const total = Number(last[1]);
  const remoteCacheHits = byKind['remote cache hit'] ?? 0;
  const internal = byKind['internal'] ?? 0;
  const executed = total - remoteCacheHits - internal;
  const remoteExecuted = byKind['remote'] ?? 0;
  return {
    total,
    byKind,
    remoteCacheHits,
    internal,
    executed,
    remoteExecuted,
    localExecuted: executed - remoteExecuted,
    line: last[0].trim(),
  };
}

/** One spawn from `--execution_log_json_file` (the fields the tests and bench read). */
export interface SpawnRecord {
  mnemonic: string;
  progressMessage: string;
  runner: string;
  remoteCacheHit: boolean;
  cacheable: boolean;
  remotable: boolean;
  remoteCacheable: boolean;
  listedOutputs: string[];
  actualOutputs: { path: string; digest?: { hash: string; sizeBytes: string } }[];
  exitCode: number;
}

/**
 * Bazel 4 writes the JSON execution log as back-to-back JSON objects (not an
 * array, not one per line), so split on top-level braces before parsing.
 */
export function parseExecutionLog(text: string): SpawnRecord[] {
  const records: SpawnRecord[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}') {
      depth--;
      if (depth === 0) {
        const raw = JSON.parse(text.slice(start, i + 1)) as Partial<SpawnRecord>;
        records.push({
          mnemonic: raw.mnemonic ?? '',
          progressMessage: raw.progressMessage ?? '',
          runner: raw.runner ?? '',
          remoteCacheHit: raw.remoteCacheHit === true,
          cacheable: raw.cacheable === true,
          remotable: raw.remotable === true,
          remoteCacheable: raw.remoteCacheable === true,
          listedOutputs: raw.listedOutputs ?? [],
          actualOutputs: raw.actualOutputs ?? [],
          exitCode: raw.exitCode ?? 0,
        });
      }
    }
  }
  if (depth !== 0) throw new Error(`execution log is truncated: ${depth} unclosed object(s) after ${records.length} record(s)`);
  return records;
}

export interface BazelRun {
  command: string;
  args: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Parsed from stderr (where Bazel prints its INFO lines). */
  summary: ProcessSummary | undefined;
  /** Present when the run asked for an execution log. */
  spawns: SpawnRecord[] | undefined;
  /** Milliseconds from spawn to exit (benchmarks only; tests never assert on it). */
  elapsedMs: number;
}

export interface BazelRunOptions {
  /** Resolve instead of throwing when Bazel exits non-zero. */
  allowFailure?: boolean;
  /** Write `--execution_log_json_file` to a temp file and parse it into `spawns`. */
  executionLog?: boolean;
  /** Kill Bazel after this long (a bound on a hang, not a wait). Default 15 minutes. */
  timeoutMs?: number;
}

export interface BazelWorkspaceOptions {
  /** A directory under test/fixtures to copy, e.g. "bazel-workspace"; omit to start empty. */
  fixture?: string;
  /** Copy test/fixtures/bazel-stubs next to the workspace (needed for sh_* rules). Default: true when fixture is set. */
  withStubs?: boolean;
  /** Extra or replacement files, relative to the workspace root. */
  files?: Record<string, string | Buffer>;
  /** Bazel executable; default: `bazel` on PATH. */
  bazel?: string;
}

// Only commands that build take build flags; `clean`, `info`, `shutdown` would reject some of them.
const BUILDING_COMMANDS = new Set(['build', 'test', 'run', 'coverage']);

// A fixed PATH for actions (`--incompatible_strict_action_env`) keeps action keys, and so cache
// hits, independent of whoever runs the test.
const ACTION_FLAGS = ['--spawn_strategy=local', '--incompatible_strict_action_env', '--color=no', '--curses=no'];

export class BazelWorkspace {
  /** The workspace root (holds WORKSPACE). */
  readonly root: string;
  readonly outputUserRoot: string;
  readonly home: string;
  private runCount = 0;

  private constructor(
    /** The temp directory holding everything below; removed by cleanup(). */
    readonly baseDir: string,
    readonly bazel: string,
  ) {
    this.root = join(baseDir, 'workspace');
    this.outputUserRoot = join(baseDir, 'output-user-root');
    this.home = join(baseDir, 'home');
  }

  static async create(options: BazelWorkspaceOptions = {}): Promise<BazelWorkspace> {
    const bazel = options.bazel ?? findBazel();
    if (!bazel) throw new Error('bazel is not installed (no `bazel` on PATH); install Debian\'s bazel-bootstrap');
    const baseDir = await mkdtemp(join(tmpdir(), 'ncache-bazel-'));
    const ws = new BazelWorkspace(baseDir, bazel);
    try {
      await mkdir(ws.home, { recursive: true });
      await mkdir(ws.outputUserRoot, { recursive: true });
      if (options.fixture) {
        await cp(join(fixturesDir(), options.fixture), ws.root, { recursive: true });
      } else {
        await mkdir(ws.root, { recursive: true });
      }
      if (options.withStubs ?? Boolean(options.fixture)) {
        // The fixture WORKSPACE points its local_repository()s at ../bazel-stubs.
        await cp(join(fixturesDir(), 'bazel-stubs'), join(baseDir, 'bazel-stubs'), { recursive: true });
      }
      for (const [rel, content] of Object.entries(options.files ?? {})) {
        const path = join(ws.root, rel);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, content);
      }
      if (!existsSync(join(ws.root, 'WORKSPACE'))) await writeFile(join(ws.root, 'WORKSPACE'), '');
    } catch (err) {
      await ws.removeFiles();
      throw err;
    }
    return ws;
  }

  /** Startup options: isolate from the user's rc files; a leaked server exits on its own. */
  private startupOptions(): string[] {
    return ['--nohome_rc', '--noworkspace_rc', `--output_user_root=${this.outputUserRoot}`, '--max_idle_secs=600'];
  }

  private environment(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: this.home };
    // Variables that would steer the wrapper script or Bazel's own defaults.
    for (const key of Object.keys(env)) {
      if (key.startsWith('BAZEL') || key === 'USE_BAZEL_VERSION' || key.startsWith('TEST_')) delete env[key];
    }
    return env;
  }

  /** `bazel <command> [flags] <args>`; build flags are added for build/test/run. */
  async run(command: string, args: string[] = [], options: BazelRunOptions = {}): Promise<BazelRun> {
    const flags = BUILDING_COMMANDS.has(command) ? [...ACTION_FLAGS] : [];
    let logPath: string | undefined;
    if (options.executionLog && BUILDING_COMMANDS.has(command)) {
      logPath = join(this.baseDir, `execution-log-${++this.runCount}.json`);
      flags.push(`--execution_log_json_file=${logPath}`);
    }
    const fullArgs = [...this.startupOptions(), command, ...flags, ...args];
    const started = performance.now();
    const { exitCode, stdout, stderr } = await runProcess(this.bazel, fullArgs, {
      cwd: this.root,
      env: this.environment(),
      timeoutMs: options.timeoutMs ?? 15 * 60_000,
    });
    const elapsedMs = performance.now() - started;
    if (exitCode !== 0 && !options.allowFailure) {
      const tail = stderr.trimEnd().split('\n').slice(-40).join('\n');
      throw new Error(`bazel ${command} ${args.join(' ')} exited with ${exitCode}:\n${tail}`);
    }
    const spawns = logPath && existsSync(logPath) ? parseExecutionLog(await readFile(logPath, 'utf8')) : undefined;
    return { command, args, exitCode, stdout, stderr, summary: parseProcessSummary(stderr), spawns, elapsedMs };
  }

  /** The path of a file under bazel-bin (resolved without relying on the convenience symlink). */
  async binPath(rel: string): Promise<string> {
    const run = await this.run('info', ['bazel-bin']);
    return join(run.stdout.trim(), rel);
  }

  /** The running Bazel server's process id (from its output base), or undefined when none is up. */
  async serverPid(): Promise<number | undefined> {
    const entries = await readdir(this.outputUserRoot).catch(() => [] as string[]);
    for (const entry of entries) {
      const text = await readFile(join(this.outputUserRoot, entry, 'server', 'server.pid.txt'), 'utf8').catch(() => undefined);
      if (text && /^\d+\s*$/.test(text)) return Number(text);
    }
    return undefined;
  }

  /** Stops the Bazel server for this output root (it would otherwise idle for max_idle_secs). */
  async shutdown(): Promise<void> {
    const entries = await readdir(this.outputUserRoot).catch(() => [] as string[]);
    if (entries.length === 0) return; // no server was ever started
    await runProcess(this.bazel, [...this.startupOptions(), 'shutdown'], {
      cwd: this.root,
      env: this.environment(),
      timeoutMs: 2 * 60_000,
    });
  }

  /** Shuts the server down and removes every file this workspace created. */
  async cleanup(): Promise<void> {
    try {
      await this.shutdown();
    } finally {
      await this.removeFiles();
    }
  }

  private async removeFiles(): Promise<void> {
    try {
      await rm(this.baseDir, { recursive: true, force: true });
    } catch {
      // Bazel leaves read-only directories in its output base; make them writable and retry.
      await makeWritable(this.baseDir);
      await rm(this.baseDir, { recursive: true, force: true });
    }
  }
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755).catch(() => undefined);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) await makeWritable(join(dir, entry.name));
  }
}

interface ProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function runProcess(
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(new Error(`${file} ${args.join(' ')} did not finish within ${options.timeoutMs} ms:\n${stderr.slice(-4000)}`));
        return;
      }
      resolve({ exitCode: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}
