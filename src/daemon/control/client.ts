// The control socket's client: sends one request, hands progress, items and
// bytes to callbacks as they arrive, and resolves with the final result.
import { createConnection } from 'node:net';
import { NcacheError } from '../../util/errors.js';
import type { ControlMethodName, ItemOf, ParamsOf, ResultOf } from './api.js';
import { FrameDecoder, PROTOCOL_VERSION, encodeJsonFrame, parseServerMessage, type ProgressUpdate } from './protocol.js';

export interface CallHandlers<Item = unknown> {
  onProgress?(p: ProgressUpdate): void;
  onItem?(item: Item): void;
  /** Blob bytes; a returned promise pauses reading until it settles (backpressure). */
  onBytes?(buf: Buffer): void | Promise<void>;
  /** Hang up (the daemon sees the method's signal abort). */
  signal?: AbortSignal;
  /** Protocol version to announce; only tests change it. */
  protocolVersion?: number;
}

export function noDaemonMessage(socketPath: string): string {
  return `no ncache daemon is running (no control socket at ${socketPath}); start one with \`ncache start\``;
}

/** True for connect errors meaning "nobody is listening there". */
function isNoDaemon(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK';
}

/**
 * One call of a method in api.ts, typed by it. The daemon answers with that
 * method's result: it runs the handler typed by the same table, and refuses
 * a request whose protocol version differs from its own.
 */
export function callMethod<M extends ControlMethodName>(
  socketPath: string,
  method: M,
  params: ParamsOf<M>,
  handlers: CallHandlers<ItemOf<M>> = {},
): Promise<ResultOf<M>> {
  // The one place a wire value becomes a typed result (see above).
  return callControl(socketPath, method, params, handlers) as Promise<ResultOf<M>>;
}

/** One call of any method name (the transport; tests use it for methods of their own). */
export function callControl(socketPath: string, method: string, params: object = {}, handlers: CallHandlers = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const decoder = new FrameDecoder();
    let connected = false;
    let settled = false;
    const settle = (err: unknown, value?: unknown) => {
      if (settled) return;
      settled = true;
      handlers.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const onAbort = () => settle(new NcacheError('CANCELLED', `control call ${method} cancelled`));
    if (handlers.signal?.aborted) return onAbort();
    handlers.signal?.addEventListener('abort', onAbort, { once: true });

    // Frames are handled one at a time, in order, so a slow onBytes pauses the socket.
    let chain = Promise.resolve();
    socket.once('connect', () => {
      connected = true;
      socket.write(encodeJsonFrame({ protocol: handlers.protocolVersion ?? PROTOCOL_VERSION, method, params }));
    });
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        return settle(err);
      }
      if (frames.length === 0) return;
      socket.pause();
      chain = chain.then(async () => {
        for (const frame of frames) {
          if (settled) return;
          if (frame.kind === 'bytes') {
            if (!handlers.onBytes) throw new NcacheError('INTERNAL', `the daemon sent blob bytes for ${method}, which expects none`);
            await handlers.onBytes(frame.data);
            continue;
          }
          const message = parseServerMessage(frame.value);
          switch (message.type) {
            case 'progress': {
              const { type: _type, ...progress } = message;
              handlers.onProgress?.(progress);
              break;
            }
            case 'item':
              handlers.onItem?.(message.item);
              break;
            case 'result':
              return settle(undefined, message.result);
            case 'error':
              return settle(new NcacheError(message.code, message.message));
          }
        }
        if (!settled) socket.resume();
      }).catch((err: unknown) => settle(err));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected && isNoDaemon(err)) return settle(new NcacheError('UNAVAILABLE', noDaemonMessage(socketPath)));
      if (!connected && err.code === 'EACCES') {
        return settle(new NcacheError('PERMISSION_DENIED', `cannot open the control socket ${socketPath}: permission denied (is the daemon another user's?)`));
      }
      settle(new NcacheError('UNAVAILABLE', `control socket ${socketPath}: ${err.message}`));
    });
    socket.once('close', () => {
      // Frames still being handled may hold the result; wait for them.
      void chain.then(() =>
        settle(new NcacheError('UNAVAILABLE', `the daemon closed the control connection before answering ${method} (did it stop or crash? see its log)`)),
      );
    });
  });
}
