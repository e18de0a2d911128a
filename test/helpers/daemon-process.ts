// Runs the built CLI (`node bin/ncache.js serve --config <file>`) as a child
// process, the way a user runs it: readiness is the `ncache listening on
// grpc://HOST:PORT` line on stdout (never a sleep), stderr is kept for failure
// messages, and stop() is a real SIGTERM. Used by test/e2e/ and bench/.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (holds package.json "ncache"), whether this runs from test/ or dist/test/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ncache') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ncache package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export interface TestConfigOptions {
  /** Directory for the stores' content and temp dirs. */
  dataDir: string;
  /** Filesystem CAS limit (JSON5 size text or bytes). Default "20gb": tests never evict by accident. */
  casMaxBytes?: string | number;
  acMaxBytes?: string | number;
  instanceName?: string;
  /** Default 127.0.0.1:0 (the daemon reports the port it got). */
  socketAddress?: string;
  /** The listener's `auth` (bearer tokens), as written in the config. */
  auth?: { tokens_file: string; allow_unauthenticated_reads?: boolean };
  /** Also serve Bazel's HTTP cache protocol (a second server, listener.http_cache) over the same CAS and AC. */
  httpCache?: { socketAddress?: string; auth?: { tokens_file: string; allow_unauthenticated_reads?: boolean } };
  /** Also serve Prometheus metrics on the gRPC listener (services.experimental_prometheus). */
  prometheus?: { path: string };
  /**
   * What holds the CAS's and the AC's values (default filesystem). memory and
   * noop (nothing kept) exist to measure what storage costs (bench replay).
   */
  leafStore?: LeafStoreKind;
}

export type LeafStoreKind = 'filesystem' | 'memory' | 'noop';

/**
 * A NativeLink-format config: a filesystem CAS behind verify (size and hash),
 * and a filesystem AC behind completeness_checking against that CAS, served
 * with CAS, AC, ByteStream, Capabilities and Health on one listener.
 */
export function testConfigText(opts: TestConfigOptions): string {
  const instance = opts.instanceName ?? '';
  const filesystem = (name: string, maxBytes: string | number): Record<string, unknown> => {
    if (opts.leafStore === 'noop') return { noop: {} };
    if (opts.leafStore === 'memory') return { memory: { eviction_policy: { max_bytes: maxBytes } } };
    return {
      filesystem: {
        content_path: join(opts.dataDir, name, 'content'),
        temp_path: join(opts.dataDir, name, 'tmp'),
        eviction_policy: { max_bytes: maxBytes },
      },
    };
  };
  const config = {
    stores: [
      {
        name: 'CAS',
        verify: { verify_size: true, verify_hash: true, backend: filesystem('cas', opts.casMaxBytes ?? '20gb') },
      },
      {
        name: 'AC',
        completeness_checking: {
          backend: filesystem('ac', opts.acMaxBytes ?? '1gb'),
          cas_store: { ref_store: { name: 'CAS' } },
        },
      },
    ],
    servers: [
      {
        listener: { http: { socket_address: opts.socketAddress ?? '127.0.0.1:0', ...(opts.auth ? { auth: opts.auth } : {}) } },
        services: {
          cas: [{ instance_name: instance, cas_store: 'CAS' }],
          ac: [{ instance_name: instance, ac_store: 'AC' }],
          bytestream: { cas_stores: { [instance]: 'CAS' } },
          capabilities: [{ instance_name: instance }],
          health: {},
          ...(opts.prometheus ? { experimental_prometheus: opts.prometheus } : {}),
        },
      },
      ...(opts.httpCache
        ? [
            {
              name: 'http',
              listener: { http_cache: { socket_address: opts.httpCache.socketAddress ?? '127.0.0.1:0', ...(opts.httpCache.auth ? { auth: opts.httpCache.auth } : {}) } },
              services: { cas: [{ instance_name: instance, cas_store: 'CAS' }], ac: [{ instance_name: instance, ac_store: 'AC' }] },
            },
          ]
        : []),
    ],
  };
  // JSON is valid JSON5; a header comment proves the file is read as JSON5.
  return `// ncache test config (written by test/helpers/daemon-process.ts)\n${JSON.stringify(config, null, 2)}\n`;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartDaemonOptions {
  /** Passed as --config; undefined runs `serve` bare, so it finds the user's config itself. */
  configPath: string | undefined;
  /** Extra environment for the daemon (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  /** Options for node itself, before the script (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
  /** Give up (and kill the child) if the readiness line has not appeared by then. Default 60 s. */
  readyTimeoutMs?: number;
  /**
   * A command that execs the daemon's command line given after it (e.g. unshare
   * with a mount: test/helpers/small-disk.ts); it must exec, not fork, so the
   * child's pid stays the daemon's.
   */
  launcher?: readonly string[];
  /** The checkout whose built CLI runs (default: this one); the bench runs a baseline checkout beside it. */
  root?: string;
}

// Children still running when the test process exits are killed, so a crashed
// test never leaves a daemon holding a port or a temp dir.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

const READY = /^ncache listening on (grpcs?):\/\/(\S+)\s*$/m;
/** Every listener's URL; serve prints them all in one write, ended by this line. */
const LISTENING = /^ncache listening on (\S+)\s*$/gm;
const READY_END = /^Add to \.bazelrc:/m;

export class DaemonProcess {
  /** "127.0.0.1:PORT" as the daemon reported it. */
  readonly address: string;
  /** The same as `grpc://HOST:PORT` (`grpcs://` for a TLS listener), ready for `--remote_cache=`. */
  readonly url: string;
  /** Every listener's URL in servers[] order, as serve printed them (`http://...` for an http_cache listener). */
  readonly urls: string[];
  readonly pid: number;
  /** Settles when the process has exited (for any reason). */
  readonly exited: Promise<ExitInfo>;

  private constructor(
    private readonly child: ChildProcess,
    ready: { scheme: string; address: string },
    exited: Promise<ExitInfo>,
    private readonly output: { stdout: string; stderr: string },
  ) {
    this.address = ready.address;
    this.url = `${ready.scheme}://${ready.address}`;
    this.urls = [...output.stdout.matchAll(LISTENING)].map((m) => m[1]!);
    this.pid = child.pid!;
    this.exited = exited;
  }

  /** What the daemon wrote to stdout so far. */
  stdout(): string {
    return this.output.stdout;
  }

  /** What the daemon wrote to stderr so far (its log and any error). */
  stderr(): string {
    return this.output.stderr;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(opts: StartDaemonOptions): Promise<DaemonProcess> {
    const root = opts.root ?? repoRoot();
    const cli = join(root, 'dist', 'src', 'cli.js');
    if (!existsSync(cli)) {
      throw new Error(`${cli} does not exist: build first (npx tsc -p tsconfig.json), the daemon test runs the compiled CLI`);
    }
    const configArgs = opts.configPath === undefined ? [] : ['--config', opts.configPath];
    const args = [...(opts.nodeArgs ?? []), join(root, 'bin', 'ncache.js'), 'serve', ...configArgs];
    const [file = process.execPath, ...launch] = opts.launcher === undefined ? [] : [...opts.launcher, process.execPath];
    const child = spawn(file, [...launch, ...args], {
      cwd: root,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    const output = { stdout: '', stderr: '' };
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (output.stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (output.stderr += s));
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      });
    });

    const describe = () =>
      `command: ${[file, ...launch, ...args].join(' ')}\n--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`;
    const ready = await new Promise<{ scheme: string; address: string }>((resolve, reject) => {
      const timeoutMs = opts.readyTimeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`ncache serve printed no "ncache listening on grpc://..." line within ${timeoutMs} ms\n${describe()}`));
      }, timeoutMs);
      const check = () => {
        const match = READY.exec(output.stdout);
        if (!match || !READY_END.test(output.stdout)) return;
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve({ scheme: match[1]!, address: match[2]! });
      };
      child.stdout!.on('data', check);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`could not run ncache serve: ${err.message}\n${describe()}`));
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`ncache serve exited (code ${code}, signal ${signal}) before it was ready\n${describe()}`));
      });
    });
    return new DaemonProcess(child, ready, exited, output);
  }

  /**
   * Graceful stop: SIGTERM, then wait for the exit. If the daemon has not
   * exited after timeoutMs, SIGKILL it (reported as `forced`).
   */
  async stop(opts: { timeoutMs?: number } = {}): Promise<ExitInfo & { forced: boolean }> {
    if (!this.running) return { ...(await this.exited), forced: false };
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), opts.timeoutMs ?? 30_000);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return { ...first, forced: false };
    this.child.kill('SIGKILL');
    return { ...(await this.exited), forced: true };
  }
}

/** What a DaemonFixture writes into its directory and how it runs the daemon there. */
export interface FixtureLayout {
  /** The temp directory's name prefix. */
  prefix: string;
  /** The config file's text, its stores under `dataDir`. */
  configText(dataDir: string): string;
  /** The daemon's environment, its catalog under `stateDir`. */
  env(stateDir: string): NodeJS.ProcessEnv;
  /** How long cleanup() lets each daemon stop (a write-behind daemon flushes first). */
  stopTimeoutMs: number;
}

/**
 * A temp directory holding a config, its stores and its state dir; start()
 * runs a daemon on it, and can be called again after stop() (or a kill) to
 * restart on the same stores and catalog. cleanup() stops whatever is running
 * and removes the directory.
 */
export class DaemonFixture {
  private readonly daemons: DaemonProcess[] = [];

  private constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly dataDir: string,
    readonly stateDir: string,
    private readonly layout: FixtureLayout,
  ) {}

  /** On the test config (filesystem CAS and AC). */
  static create(config: Omit<TestConfigOptions, 'dataDir'> = {}): Promise<DaemonFixture> {
    return DaemonFixture.withLayout({
      prefix: 'ncache-daemon-',
      configText: (dataDir) => testConfigText({ ...config, dataDir }),
      // Its own state dir (the catalog), so fixtures never share one or touch the user's.
      env: (stateDir) => ({ NCACHE_STATE_DIR: stateDir }),
      stopTimeoutMs: 10_000,
    });
  }

  static async withLayout(layout: FixtureLayout): Promise<DaemonFixture> {
    const dir = await mkdtemp(join(tmpdir(), layout.prefix));
    const dataDir = join(dir, 'data');
    const stateDir = join(dir, 'state');
    await mkdir(dataDir, { recursive: true });
    await mkdir(stateDir, { recursive: true });
    const configPath = join(dir, 'config.json5');
    await writeFile(configPath, layout.configText(dataDir));
    return new DaemonFixture(dir, configPath, dataDir, stateDir, layout);
  }

  async start(opts: Omit<StartDaemonOptions, 'configPath'> = {}): Promise<DaemonProcess> {
    const env = { ...this.layout.env(this.stateDir), ...opts.env };
    const daemon = await DaemonProcess.start({ ...opts, env, configPath: this.configPath });
    this.daemons.push(daemon);
    return daemon;
  }

  async cleanup(): Promise<void> {
    for (const daemon of this.daemons) await daemon.stop({ timeoutMs: this.layout.stopTimeoutMs });
    await rm(this.dir, { recursive: true, force: true });
  }
}
