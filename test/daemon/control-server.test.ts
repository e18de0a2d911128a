// The control server on a real Unix socket: permissions, stale and live
// sockets, requests cut into pieces, oversized frames, version mismatch,
// abort on disconnect and backpressure on blob bytes; and status/shutdown
// through a real in-process daemon.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { callControl, noDaemonMessage } from '../../src/daemon/control/client.js';
import { ensurePrivateDir } from '../../src/daemon/control/paths.js';
import { readPidFile } from '../../src/daemon/control/pid-file.js';
import { FRAME_TYPE_JSON, FrameDecoder, encodeJsonFrame, type Frame } from '../../src/daemon/control/protocol.js';
import { type ControlServer, startControlServer } from '../../src/daemon/control/server.js';
import type { StatusResult } from '../../src/daemon/control/status.js';
import type { ControlContext, ControlMethod } from '../../src/daemon/control/types.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { NcacheError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { shortTempDir } from '../helpers/cli-daemon.js';
import { waitFor } from '../helpers/wait-for.js';

let dir: string;
let socketPath: string;
const servers: ControlServer[] = [];

beforeEach(async () => {
  dir = await shortTempDir();
  socketPath = join(dir, 'run', 'c.sock');
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

/** A promise with its resolve exposed, for handlers and tests to signal each other. */
function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Methods that exercise the server itself; their context is not used. */
async function serve(methods: Record<string, ControlMethod>, opts: { maxFrameBytes?: number } = {}): Promise<ControlServer> {
  const server = await startControlServer({
    socketPath,
    context: {} as ControlContext,
    methods,
    logger: silentLogger,
    ...opts,
  });
  servers.push(server);
  return server;
}

const echo: ControlMethod = async (params) => ({ echoed: params });

async function expectError(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeInstanceOf(NcacheError);
  expect((err as NcacheError).code).toBe(code);
  expect((err as NcacheError).message).toMatch(message);
}

/** Writes raw bytes to the socket in the given pieces and collects every frame until the server closes. */
function rawExchange(pieces: Buffer[]): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
    socket.once('error', reject);
    socket.once('close', () => resolve(frames));
    socket.once('connect', async () => {
      for (const piece of pieces) {
        // Each piece in its own write, after the previous one left the process.
        await new Promise<void>((r) => socket.write(piece, () => r()));
      }
    });
  });
}

describe('control socket files', () => {
  it('creates the socket 0600 inside a 0700 directory', async () => {
    await serve({ echo });
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
    const st = statSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('tightens an existing directory that others can enter', async () => {
    mkdirSync(join(dir, 'run'), { mode: 0o755 });
    chmodSync(join(dir, 'run'), 0o755);
    await serve({ echo });
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory owned by another user', () => {
    const other = join(dir, 'theirs');
    mkdirSync(other, { mode: 0o700 });
    chownSync(other, 65534, 65534);
    expect(() => ensurePrivateDir(other)).toThrow(/belongs to uid 65534, not to you/);
  });

  it('removes the socket file when it closes', async () => {
    const server = await serve({ echo });
    await server.close();
    expect(existsSync(socketPath)).toBe(false);
  });

  it('replaces a stale socket left by a killed process', async () => {
    mkdirSync(join(dir, 'run'), { mode: 0o700 });
    // A process that listens on the path and is SIGKILLed leaves the file behind, accepting nothing.
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('ready'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    expect(statSync(socketPath).isSocket()).toBe(true);
    await expectError(callControl(socketPath, 'echo'), 'UNAVAILABLE', /no ncache daemon is running/);

    await serve({ echo });
    expect(await callControl(socketPath, 'echo', { a: 1 })).toEqual({ echoed: { a: 1 } });
  });

  it('refuses to start while another server answers on the socket', async () => {
    await serve({ echo });
    await expectError(
      startControlServer({ socketPath, context: {} as ControlContext, methods: { echo }, logger: silentLogger }),
      'FAILED_PRECONDITION',
      /another ncache daemon is already running .* answers/,
    );
    // The first one is untouched.
    expect(await callControl(socketPath, 'echo')).toEqual({ echoed: {} });
  });

  it('with no socket, the client says how to start a daemon', async () => {
    await expectError(callControl(socketPath, 'status'), 'UNAVAILABLE', /start one with `ncache start`/);
    expect(noDaemonMessage(socketPath)).toBe(
      `no ncache daemon is running (no control socket at ${socketPath}); start one with \`ncache start\``,
    );
  });
});

describe('control protocol over the socket', () => {
  it('answers a request whose bytes arrive one at a time', async () => {
    await serve({ echo });
    const request = encodeJsonFrame({ protocol: 1, method: 'echo', params: { n: 42 } });
    const pieces = [...request].map((b) => Buffer.from([b]));
    const frames = await rawExchange(pieces);
    expect(frames).toEqual([{ kind: 'json', value: { type: 'result', result: { echoed: { n: 42 } } } }]);
  });

  it('streams progress and items before the result, in order', async () => {
    await serve({
      list: async (_params, _ctx, out) => {
        out.progress({ phase: 'scan', done: 0, total: 2 });
        out.item({ n: 1 });
        out.item({ n: 2 });
        out.progress({ phase: 'scan', done: 2, total: 2 });
        return { count: 2 };
      },
    });
    const events: unknown[] = [];
    const result = await callControl(socketPath, 'list', {}, {
      onProgress: (p) => events.push(['progress', p.done]),
      onItem: (item) => events.push(['item', item]),
    });
    expect(events).toEqual([
      ['progress', 0],
      ['item', { n: 1 }],
      ['item', { n: 2 }],
      ['progress', 2],
    ]);
    expect(result).toEqual({ count: 2 });
  });

  it('rejects an oversized frame with an error frame naming the limit', async () => {
    let called = false;
    await serve({ echo: async () => (called = true) }, { maxFrameBytes: 64 });
    const header = Buffer.alloc(5);
    header.writeUInt32BE(1_000_000, 0);
    header.writeUInt8(FRAME_TYPE_JSON, 4);
    const frames = await rawExchange([header]);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ kind: 'json', value: { type: 'error', code: 'INVALID_ARGUMENT' } });
    expect((frames[0] as { value: { message: string } }).value.message).toMatch(/1000000 bytes exceeds the limit of 64 bytes/);
    expect(called).toBe(false);
  });

  it('names both versions when the client speaks another protocol version', async () => {
    await serve({ echo });
    await expectError(
      callControl(socketPath, 'echo', {}, { protocolVersion: 2 }),
      'FAILED_PRECONDITION',
      /client speaks version 2, this daemon speaks version 1/,
    );
  });

  it('names the unknown method and the ones it has', async () => {
    await serve({ echo, other: echo });
    await expectError(callControl(socketPath, 'nope'), 'UNIMPLEMENTED', /no control method "nope" \(it has: echo, other\)/);
  });

  it('passes a method\'s NcacheError code and message to the client', async () => {
    await serve({
      fail: async () => {
        throw new NcacheError('NOT_FOUND', 'blob abc-1 is not in CAS');
      },
    });
    await expectError(callControl(socketPath, 'fail'), 'NOT_FOUND', /^blob abc-1 is not in CAS$/);
  });

  it('aborts the method\'s signal when the client disconnects', async () => {
    const started = signal();
    const aborted = signal<unknown>();
    await serve({
      wait: async (_params, _ctx, out) => {
        out.signal.addEventListener('abort', () => aborted.resolve(out.signal.reason));
        started.resolve();
        await aborted.promise;
        return 'done';
      },
    });
    const controller = new AbortController();
    const call = callControl(socketPath, 'wait', {}, { signal: controller.signal });
    await started.promise;
    controller.abort();
    await expectError(call, 'CANCELLED', /cancelled/);
    const reason = await aborted.promise;
    expect(reason).toBeInstanceOf(NcacheError);
    expect((reason as NcacheError).code).toBe('CANCELLED');
  });

  it('holds a method back while the client does not read (backpressure), then delivers every byte', async () => {
    const total = 64 * 1024 * 1024;
    const piece = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < piece.length; i++) piece[i] = (i * 31) & 0xff;
    const stalled = signal<number>();
    const handlerDone = signal<number>();
    await serve({
      blob: async (_params, _ctx, out) => {
        let sent = 0;
        let reported = false;
        while (sent < total) {
          const write = out.bytes(piece);
          let settled = false;
          void write.then(() => (settled = true), () => (settled = true));
          // Let the write settle if the socket took it at once.
          await new Promise((r) => setImmediate(r));
          if (!settled && !reported) {
            reported = true;
            stalled.resolve(sent);
          }
          await write;
          sent += piece.length;
        }
        handlerDone.resolve(sent);
        return { sent };
      },
    });

    const release = signal();
    const hash = createHash('sha256');
    let received = 0;
    let first = true;
    const call = callControl(socketPath, 'blob', {}, {
      onBytes: async (buf) => {
        if (first) {
          first = false;
          await release.promise; // the client stops reading here
        }
        hash.update(buf);
        received += buf.length;
      },
    });
    // The method must block on bytes() before it has sent everything.
    const which = await Promise.race([stalled.promise.then((n) => ['stalled', n] as const), handlerDone.promise.then((n) => ['done', n] as const)]);
    expect(which[0]).toBe('stalled');
    expect(which[1]).toBeLessThan(total);
    release.resolve();
    expect(await call).toEqual({ sent: total });
    expect(received).toBe(total);
    const expected = createHash('sha256');
    for (let i = 0; i < total / piece.length; i++) expected.update(piece);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });

  it('holds requests until the daemon is ready, and fails them if it never gets there', async () => {
    let ready!: (ctx: ControlContext) => void;
    const context = new Promise<ControlContext>((resolve) => (ready = resolve));
    const server = await startControlServer({
      socketPath,
      context,
      methods: { who: async (_p, ctx) => ctx.pid },
      logger: silentLogger,
    });
    servers.push(server);
    let answered = false;
    const call = callControl(socketPath, 'who').then((v) => ((answered = true), v));
    // The server has the request (its connection exists) but no context yet.
    await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    ready({ pid: 4242 } as ControlContext);
    expect(await call).toBe(4242);

    const failing = Promise.reject(new NcacheError('UNAVAILABLE', 'the daemon failed to start: disk on fire'));
    failing.catch(() => {});
    const socket2 = join(dir, 'run', 'd.sock');
    servers.push(await startControlServer({ socketPath: socket2, context: failing, methods: { echo }, logger: silentLogger }));
    await expectError(callControl(socket2, 'echo'), 'UNAVAILABLE', /failed to start: disk on fire/);
  });

  it('drops a client that connects and sends nothing', async () => {
    await startControlServer({ socketPath, context: {} as ControlContext, methods: { echo }, logger: silentLogger, requestTimeoutMs: 50 }).then(
      (s) => servers.push(s),
    );
    const frames = await rawExchange([]);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ value: { type: 'error', code: 'DEADLINE_EXCEEDED' } });
  });
});

describe('status and shutdown through a daemon', () => {
  it('a second daemon on the same socket fails before it opens a catalog or a store', async () => {
    const config = parseConfigText(
      JSON.stringify({
        stores: [{ name: 'CAS', memory: {} }],
        servers: [{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { cas: [{ instance_name: '', cas_store: 'CAS' }] } }],
      }),
      join(dir, 'c.json5'),
      {},
    );
    const pidFile = join(dir, 'daemon.pid');
    const first = await startDaemon({ config, stateDir: join(dir, 'a'), control: { socketPath, pidFile } });
    try {
      // Written before the daemon first answers.
      expect(readPidFile(pidFile)).toMatchObject({ pid: process.pid, socketPath, addresses: first.addresses.map((a) => `grpc://${a}`) });
      await expectError(
        startDaemon({ config, stateDir: join(dir, 'b'), control: { socketPath } }),
        'FAILED_PRECONDITION',
        /another ncache daemon is already running/,
      );
      expect(existsSync(join(dir, 'b'))).toBe(false);
      expect(((await callControl(socketPath, 'status')) as StatusResult).stateDir).toBe(join(dir, 'a'));
    } finally {
      await first.stop({ graceMs: 0 });
    }
    expect(existsSync(pidFile)).toBe(false);
  });

  const configText = (data: string) =>
    JSON.stringify({
      stores: [
        {
          name: 'CAS',
          fast_slow: {
            fast: { memory: { eviction_policy: { max_bytes: 1_000_000 } } },
            slow: { filesystem: { content_path: join(data, 'slow'), temp_path: join(data, 'tmp') } },
            slow_write_mode: 'async',
          },
        },
        { name: 'AC', memory: {} },
      ],
      servers: [
        {
          listener: { http: { socket_address: '127.0.0.1:0' } },
          services: { cas: [{ instance_name: '', cas_store: 'CAS' }], ac: [{ instance_name: '', ac_store: 'AC' }] },
        },
      ],
    });

  it('reports uploads owed to a slow tier that cannot be reached', async () => {
    const config = parseConfigText(
      JSON.stringify({
        stores: [
          {
            name: 'CAS',
            fast_slow: {
              fast: { memory: {} },
              slow: {
                experimental_cloud_object_store: {
                  provider: 'aws',
                  region: 'us-east-1',
                  bucket: 'nowhere',
                  // Nothing listens on the discard port: every upload fails.
                  endpoint: 'http://127.0.0.1:9',
                  force_path_style: true,
                  retry: { max_retries: 0, delay: 0.01, jitter: 0 },
                },
              },
              slow_write_mode: 'async',
            },
          },
        ],
        servers: [{ listener: { http: { socket_address: '127.0.0.1:0' } }, services: { cas: [{ instance_name: '', cas_store: 'CAS' }] } }],
      }),
      join(dir, 'config.json5'),
      {},
    );
    const daemon = await startDaemon({
      config,
      stateDir: join(dir, 'state'),
      env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
      control: { socketPath },
    });
    try {
      const { putBuffer } = await import('../../src/stores/store.js');
      const { digestOf } = await import('../../src/util/digest.js');
      const data = Buffer.alloc(5000, 7);
      await putBuffer(daemon.stores.get('CAS'), digestOf(data), data);
      // Poll status itself until the first failed attempt is on record.
      const status = await waitFor(
        async () => {
          const s = (await callControl(socketPath, 'status')) as StatusResult;
          return s.uploadBacklog.lastError !== null && s;
        },
        { what: 'status to record a failed upload attempt', intervalMs: 20 },
      );
      expect(status.uploadBacklog).toMatchObject({ blobs: 1, bytes: 5000 });
      expect(status.uploadBacklog.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
      expect(status.uploadBacklog.byStore).toEqual([expect.objectContaining({ path: 'CAS', blobs: 1, bytes: 5000 })]);
    } finally {
      await daemon.stop({ graceMs: 0, flush: false });
    }
  });

  it('reports pid, addresses, paths, tiers with used/max bytes and the upload backlog; shutdown asks the daemon to stop', async () => {
    const config = parseConfigText(configText(join(dir, 'data')), join(dir, 'config.json5'), {});
    const stopRequested = signal<{ force: boolean }>();
    const daemon = await startDaemon({
      config,
      stateDir: join(dir, 'state'),
      control: { socketPath, requestStop: (o) => stopRequested.resolve(o) },
    });
    try {
      const status = (await callControl(socketPath, 'status')) as StatusResult;
      expect(status.pid).toBe(process.pid);
      expect(status.addresses).toEqual(daemon.addresses.map((a) => `grpc://${a}`));
      expect(status.socketPath).toBe(socketPath);
      expect(status.stateDir).toBe(join(dir, 'state'));
      expect(status.catalogPath).toBe(join(dir, 'state', 'catalog.sqlite'));
      expect(status.configSource).toBe(join(dir, 'config.json5'));
      expect(status.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(status.uptimeSeconds).toBeGreaterThanOrEqual(0);
      const cas = status.stores.find((s) => s.name === 'CAS')!;
      expect(cas.tiers.map((t) => [t.path, t.kind])).toEqual([
        ['CAS', 'fast_slow'],
        ['CAS/fast:memory', 'memory'],
        ['CAS/slow:filesystem', 'filesystem'],
      ]);
      expect(cas.tiers[1]).toMatchObject({ usedBytes: 0, maxBytes: 1_000_000, count: 0 });
      expect(status.uploadBacklog).toMatchObject({ blobs: 0, bytes: 0, oldestAgeSeconds: null });
      expect(status.uploadBacklog.byStore.map((b) => b.path)).toEqual(['CAS']);

      // A blob written through the store shows up in the fast tier's bytes.
      const { putBuffer } = await import('../../src/stores/store.js');
      const { digestOf } = await import('../../src/util/digest.js');
      const data = Buffer.from('some blob content');
      await putBuffer(daemon.stores.get('CAS'), digestOf(data), data);
      const after = (await callControl(socketPath, 'status')) as StatusResult;
      expect(after.stores[0]!.tiers[1]).toMatchObject({ usedBytes: data.length, count: 1 });

      await expectError(callControl(socketPath, 'shutdown', { force: 'yes' }), 'INVALID_ARGUMENT', /param "force" must be a boolean/);
      expect(await callControl(socketPath, 'shutdown', { force: true })).toEqual({ pid: process.pid, force: true });
      expect(await stopRequested.promise).toEqual({ force: true });
    } finally {
      await daemon.stop({ graceMs: 0 });
    }
    // stop() closed the control socket.
    expect(existsSync(socketPath)).toBe(false);
  });
});
