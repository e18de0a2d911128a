// One port for gRPC and Prometheus's HTTP/1.1 scrape, for a listener that
// lists experimental_prometheus (NativeLink serves both on one listener too).
// We own the port: a net.Server (or tls.Server) looks at each connection and
// hands HTTP/2 to the gRPC listener (GrpcListener.injectConnection) and
// anything else to a node:http server with the metrics endpoint. Without
// TLS the first bytes decide (HTTP/2 starts with its fixed client preface);
// with TLS, ALPN does ("h2" is gRPC). Only such listeners take this path;
// the others listen directly.
import { createServer as createHttpServer } from 'node:http';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { type TLSSocket, createServer as createTlsServer } from 'node:tls';
import { serverLabel } from '../../config/schema-servers.js';
import type { ServerSpec } from '../../config/types.js';
import type { Logger } from '../../util/logger.js';
import type { GrpcListener } from '../grpc-server/listener.js';
import { listenerLimits } from '../limits.js';
import { type FollowedTlsFiles, contextOptions, followTlsFiles } from '../tls.js';
import type { RequestHandler } from './metrics-endpoint.js';
import { listenOn } from '../listen-on.js';

/** What every HTTP/2 connection sends first (RFC 9113, 3.4). */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/**
 * Offered in this order: the server's preference decides, so a client that
 * speaks both (curl, Prometheus over https) gets HTTP/1.1 and the metrics,
 * while gRPC clients offer only h2.
 */
const ALPN_PROTOCOLS = ['http/1.1', 'h2'];

/** As node's HTTP/2 server sets on the sockets it accepts: small gRPC frames go out at once (no Nagle delay). */
const SOCKET_OPTIONS = { noDelay: true } as const;

export interface SharedPortOptions {
  /** The listener's gRPC server, with its services added; never listening itself. */
  readonly grpc: GrpcListener;
  readonly spec: ServerSpec;
  readonly index: number;
  /** Serves the HTTP/1.1 requests (metrics-endpoint.ts). */
  readonly http: RequestHandler;
  readonly logger: Logger;
}

export interface SharedPort {
  /** "HOST:PORT" as bound (the real port when the config said :0). */
  readonly address: string;
  /** Stops accepting; open connections get `graceMs` to finish. gRPC calls end with the gRPC server's own shutdown. */
  stop(graceMs: number): Promise<void>;
}

export async function listenSharedPort(opts: SharedPortOptions): Promise<SharedPort> {
  const { spec, index } = opts;
  const where = serverLabel(spec, index);
  const limits = listenerLimits(spec.listener.http);
  // TLS, when the listener has it, ends here: the gRPC listener gets the decrypted stream.
  const grpc = opts.grpc;
  const http = createHttpServer(opts.http);
  // Answers close their connection (metrics-endpoint.ts); a client that goes quiet mid-request is dropped after idle_timeout.
  http.timeout = limits.idleTimeoutMs;
  const route = (socket: Socket, alpn: string | false | null | undefined) => {
    if (alpn === 'h2') grpc.injectConnection(socket);
    else if (alpn === 'http/1.1') http.emit('connection', socket);
    else sniff(socket, limits.idleTimeoutMs, (isHttp2) => (isHttp2 ? grpc.injectConnection(socket) : http.emit('connection', socket)));
  };
  const tlsSpec = spec.listener.http.tls;
  let tls: FollowedTlsFiles | undefined;
  let server: NetServer;
  if (tlsSpec === undefined) {
    server = createNetServer(SOCKET_OPTIONS, (socket) => route(socket, undefined));
  } else {
    const mtls = tlsSpec.client_ca_file !== undefined;
    let tlsServer: ReturnType<typeof createTlsServer> | undefined;
    // New handshakes get each good set of files; open connections keep theirs.
    // Named as the gRPC listener names them (daemon.ts buildServer), so messages read the same.
    tls = followTlsFiles(tlsSpec, `servers[${index}]`, `servers[${index}].listener.http.tls`, opts.logger, (m) => tlsServer?.setSecureContext(contextOptions(m)));
    tlsServer = createTlsServer(
      { ...SOCKET_OPTIONS, ...contextOptions(tls.material), requestCert: mtls, rejectUnauthorized: mtls, ALPNProtocols: ALPN_PROTOCOLS },
      (socket: TLSSocket) => route(socket, socket.alpnProtocol),
    );
    // A failed handshake (a client without the CA's certificate under mTLS) concerns that client only.
    tlsServer.on('tlsClientError', (err) => opts.logger.debug(`${where}: TLS handshake failed: ${err.message}`));
    server = tlsServer;
  }
  // Every connection, whoever serves it, so a stop can end those still open after the grace period.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let address: string;
  try {
    address = await listenOn(server, spec.listener.http.socket_address, `${where}.listener.http.socket_address`);
  } catch (err) {
    tls?.close();
    throw err;
  }
  return { address, stop: (graceMs) => stopPort(server, sockets, tls, graceMs) };
}

/**
 * Reads the first bytes of a connection: as soon as they differ from the
 * HTTP/2 preface it is HTTP/1.x, once the whole preface arrived it is HTTP/2.
 * The bytes go back into the socket for whoever takes it. A connection that
 * says nothing for idle_timeout is closed.
 */
function sniff(socket: Socket, idleMs: number, decide: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const quiet = () => socket.destroy();
  const failed = () => socket.destroy();
  socket.setTimeout(idleMs, quiet);
  socket.on('error', failed);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, HTTP2_PREFACE.length);
    const isHttp2 = seen.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
    if (isHttp2 && seen.length < HTTP2_PREFACE.length) return;
    socket.off('data', onData);
    socket.off('error', failed);
    socket.setTimeout(0, quiet);
    socket.pause();
    socket.unshift(seen);
    decide(isHttp2);
    // node:http reads through 'data' events; HTTP/2 reads what was put back itself when its session starts.
    if (!isHttp2) socket.resume();
  };
  socket.on('data', onData);
}

async function stopPort(server: NetServer, sockets: Set<Socket>, tls: FollowedTlsFiles | undefined, graceMs: number): Promise<void> {
  tls?.close();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Scrape connections close after their answer; gRPC sessions get their GOAWAY from the gRPC server's shutdown.
  const timer = setTimeout(() => {
    for (const socket of sockets) socket.destroy();
  }, graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}
