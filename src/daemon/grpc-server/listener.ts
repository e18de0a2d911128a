// One gRPC listener: a node:http2 server (TLS or not) with ncache's HTTP/2
// settings, whose streams go to a GrpcRouter. It closes connections idle for
// the listener's idle_timeout and shuts down gracefully (GOAWAY, in-flight
// calls finish) or at once.
import * as http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import { HTTP2_CONNECTION_WINDOW_BYTES, HTTP2_MAX_FRAME_BYTES, HTTP2_STREAM_WINDOW_BYTES } from '../limits.js';
import type { GrpcRouter } from './router.js';

export interface GrpcListenerOptions {
  readonly router: GrpcRouter;
  readonly maxConcurrentStreams: number;
  /** A connection with no call open for this long is sent GOAWAY and closed. */
  readonly idleTimeoutMs: number;
  /** TLS: the initial context and whether clients must present a certificate (mTLS). */
  readonly tls?: { readonly context: SecureContextOptions; readonly requireClientCertificate: boolean };
}

export class GrpcListener {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(private readonly opts: GrpcListenerOptions) {
    const options: http2.ServerOptions = {
      settings: {
        maxConcurrentStreams: opts.maxConcurrentStreams,
        initialWindowSize: HTTP2_STREAM_WINDOW_BYTES,
        maxFrameSize: HTTP2_MAX_FRAME_BYTES,
      },
      // Node's default (10 MB per connection) refuses new streams while wide windows are full; memory is bounded by the windows.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    };
    const tls = opts.tls;
    this.server =
      tls === undefined
        ? http2.createServer(options)
        : http2.createSecureServer({
            ...options,
            ...tls.context,
            ALPNProtocols: ['h2'],
            requestCert: tls.requireClientCertificate,
            rejectUnauthorized: tls.requireClientCertificate,
          });
    this.server.on('session', (session) => this.track(session));
    this.server.on('stream', (stream, headers) => opts.router.serve(stream, headers));
  }

  /** Listens on HOST:PORT; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      this.server.once('error', fail);
      this.server.listen(port, host, () => {
        this.server.off('error', fail);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /**
   * Serves HTTP/2 on a connection accepted elsewhere (a port shared with
   * the Prometheus endpoint, src/daemon/prometheus/shared-port.ts), TLS
   * already ended there.
   */
  injectConnection(socket: Duplex): void {
    this.server.emit('connection', socket);
  }

  /** New TLS handshakes use `context`; open connections keep theirs. */
  setSecureContext(context: SecureContextOptions): void {
    if ('setSecureContext' in this.server) this.server.setSecureContext(context);
  }

  /** Stops accepting connections and calls; `done` once the calls in flight have finished. */
  tryShutdown(done: () => void): void {
    let waiting = this.sessions.size + 1;
    const one = () => {
      if (--waiting === 0) done();
    };
    this.server.close(() => one());
    for (const session of this.sessions) {
      session.once('close', one);
      session.close();
    }
  }

  /** Ends every connection and call now. */
  forceShutdown(): void {
    this.server.close();
    for (const session of this.sessions) session.destroy();
  }

  private track(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.on('error', () => {}); // a broken connection ends its calls, nothing more
    try {
      session.setLocalWindowSize(HTTP2_CONNECTION_WINDOW_BYTES);
    } catch {
      // the session closed before it was set up: nothing to widen
    }
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const startIdle = () => {
      idle = setTimeout(() => session.close(), this.opts.idleTimeoutMs);
      idle.unref();
    };
    session.on('stream', (stream) => {
      open += 1;
      clearTimeout(idle);
      stream.once('close', () => {
        if (--open === 0 && !session.closed && !session.destroyed) startIdle();
      });
    });
    session.once('close', () => {
      clearTimeout(idle);
      this.sessions.delete(session);
    });
    startIdle();
  }
}
