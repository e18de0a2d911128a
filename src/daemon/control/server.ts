// The control socket's server: a Unix socket only this user can open, one
// request per connection, dispatched to the methods in methods.ts.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { NcacheError, errorCode, errorMessage, failedPrecondition } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { checkSocketPathLength, ensurePrivateDir } from './paths.js';
import { readPidFile } from './pid-file.js';
import {
  BYTES_FRAME_CHUNK,
  FRAME_TYPE_BYTES,
  FrameDecoder,
  MAX_FRAME_BYTES,
  encodeJsonFrame,
  frameHeader,
  parseRequest,
  type ServerMessage,
} from './protocol.js';
import type { ControlContext, ControlMethod, ControlOutput } from './types.js';

export interface ControlServerOptions {
  socketPath: string;
  /** Read to name the daemon that already owns the socket, if one does. */
  pidFile?: string;
  /** The daemon's parts; a promise while it is starting (requests wait for it; a rejection is their error). */
  context: ControlContext | Promise<ControlContext>;
  methods: Readonly<Record<string, ControlMethod>>;
  logger: Logger;
  /** A client that sends no complete request within this time is dropped. Default 10 s. */
  requestTimeoutMs?: number;
  /** Largest frame accepted from a client. Default MAX_FRAME_BYTES. */
  maxFrameBytes?: number;
}

export interface ControlServer {
  readonly socketPath: string;
  /** Stops accepting, aborts running methods, waits for their replies, removes the socket file. */
  close(): Promise<void>;
}

/** How long close() lets aborted methods send their final frame before cutting them off. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Makes the socket path free for us: a stale socket left by a crashed daemon
 * (nobody accepts on it) is removed; a live one means another daemon owns this
 * state directory, and we refuse to start. Call before listening.
 */
export async function claimSocketPath(socketPath: string, logger: Logger, pidFile?: string): Promise<void> {
  checkSocketPathLength(socketPath);
  ensurePrivateDir(dirname(socketPath));
  let st;
  try {
    st = lstatSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw failedPrecondition(`${socketPath} exists and is not a socket; remove it if you know what it is, then start again`);
  }
  if (await socketAnswers(socketPath)) {
    const owner = pidFile !== undefined ? readPidFile(pidFile) : undefined;
    const who = owner !== undefined ? ` (pid ${owner.pid}${owner.addresses.length > 0 ? ` on ${owner.addresses.join(', ')}` : ''})` : '';
    throw failedPrecondition(
      `another ncache daemon${who} is already running on this state directory (its control socket ${socketPath} answers); ` +
        'stop it with `ncache stop`, or use another NCACHE_STATE_DIR',
    );
  }
  try {
    unlinkSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  logger.info(`removed a stale control socket left by a daemon that is gone: ${socketPath}`);
}

/** True when something accepts connections on the socket (we only connect, then hang up). */
export function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const { socketPath, logger } = opts;
  await claimSocketPath(socketPath, logger, opts.pidFile);
  const connections = new Set<Connection>();
  const server = createServer((socket) => {
    const connection = new Connection(socket, opts);
    connections.add(connection);
    socket.once('close', () => connections.delete(connection));
  });
  await listenPrivately(server, socketPath);
  logger.info(`control socket listening on ${socketPath}`);

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of connections) c.abort('the daemon is stopping');
        await Promise.race([
          Promise.all([...connections].map((c) => c.closed)),
          new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
        ]);
        for (const c of connections) c.destroy();
        await closed;
        // net removes the file on close; make sure, without failing if it is gone.
        try {
          unlinkSync(socketPath);
        } catch {
          // already removed
        }
      })();
      return closing;
    },
  };
}

/**
 * Listens with umask 0177 so the socket is born 0600 (no window in which
 * another user could connect), then chmods it anyway. Node binds a Unix
 * socket synchronously inside listen(), so the umask covers the bind.
 */
function listenPrivately(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? failedPrecondition(`cannot listen on the control socket ${socketPath}: another process just created it`)
          : new NcacheError('UNAVAILABLE', `cannot listen on the control socket ${socketPath}: ${err.message}`),
      );
    };
    server.once('error', onError);
    // Worker threads may not change the umask; there the directory (0700) and the chmod below protect it.
    const previous = isMainThread ? process.umask(0o177) : undefined;
    try {
      server.listen(socketPath, () => {
        server.off('error', onError);
        try {
          chmodSync(socketPath, 0o600);
          resolve();
        } catch (err) {
          server.close();
          reject(err);
        }
      });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}

/** One client connection: read one request, run its method, stream the reply. */
class Connection {
  readonly closed: Promise<void>;
  private readonly controller = new AbortController();
  private readonly decoder: FrameDecoder;
  private started = false;
  private finished = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    private readonly opts: ControlServerOptions,
  ) {
    this.decoder = new FrameDecoder(opts.maxFrameBytes ?? MAX_FRAME_BYTES);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => this.controller.abort(new NcacheError('CANCELLED', 'the client disconnected')));
    socket.on('error', () => {
      // A client that vanished: 'close' follows and aborts the method.
    });
    this.timer = setTimeout(() => {
      if (!this.started) this.fail(new NcacheError('DEADLINE_EXCEEDED', 'no control request received in time'));
    }, opts.requestTimeoutMs ?? 10_000);
    this.timer.unref();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  abort(reason: string): void {
    this.controller.abort(new NcacheError('CANCELLED', reason));
    if (!this.started) this.destroy();
  }

  destroy(): void {
    clearTimeout(this.timer);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    // One request per connection: anything after it is ignored.
    if (this.started) return;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    const first = frames[0];
    if (first === undefined) return;
    this.started = true;
    clearTimeout(this.timer);
    if (first.kind !== 'json') {
      this.fail(new NcacheError('INVALID_ARGUMENT', 'the control request must be a JSON frame, not bytes'));
      return;
    }
    void this.run(first.value);
  }

  private async run(value: unknown): Promise<void> {
    let method: string | undefined;
    try {
      const request = parseRequest(value);
      method = request.method;
      const handler = Object.hasOwn(this.opts.methods, method) ? this.opts.methods[method] : undefined;
      if (handler === undefined) {
        const known = Object.keys(this.opts.methods).sort().join(', ');
        throw new NcacheError(
          'UNIMPLEMENTED',
          `this daemon has no control method ${JSON.stringify(method)} (it has: ${known}); is the daemon older than the command?`,
        );
      }
      const context = await this.whenReady();
      const result = await handler(request.params, context, this.output());
      this.send({ type: 'result', result: result ?? null });
      this.finish();
    } catch (err) {
      if (this.controller.signal.aborted && this.socket.destroyed) return; // nobody to tell
      if (errorCode(err) === 'INTERNAL') {
        this.opts.logger.error(`control method ${method ?? '?'} failed`, { error: err instanceof Error ? err.stack : String(err) });
      }
      this.fail(err);
    }
  }

  /** The context, once the daemon is ready; rejects if the client leaves or the daemon stops first. */
  private whenReady(): Promise<ControlContext> {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      Promise.resolve(this.opts.context).then(
        (ctx) => {
          signal.removeEventListener('abort', onAbort);
          resolve(ctx);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  private output(): ControlOutput {
    const signal = this.controller.signal;
    return {
      signal,
      progress: (p) => this.send({ type: 'progress', ...p }),
      item: (item) => this.send({ type: 'item', item }),
      bytes: async (buf) => {
        for (let offset = 0; offset < buf.length; offset += BYTES_FRAME_CHUNK) {
          if (signal.aborted) throw signal.reason;
          const piece = buf.subarray(offset, Math.min(buf.length, offset + BYTES_FRAME_CHUNK));
          this.socket.write(frameHeader(FRAME_TYPE_BYTES, piece.length));
          if (!this.socket.write(piece)) await this.drained();
        }
      },
    };
  }

  /** Resolves on 'drain'; rejects if the client goes away first. */
  private drained(): Promise<void> {
    const signal = this.controller.signal;
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.socket.off('drain', onDrain);
        reject(signal.reason);
      };
      if (signal.aborted) return reject(signal.reason);
      this.socket.once('drain', onDrain);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private send(message: ServerMessage): void {
    if (this.finished || this.socket.destroyed) return;
    this.socket.write(encodeJsonFrame(message));
  }

  private fail(err: unknown): void {
    this.send({ type: 'error', code: errorCode(err), message: errorMessage(err) });
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.socket.end();
  }
}
