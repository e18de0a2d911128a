// The HTTP/1.1 side of a listener that lists experimental_prometheus: GET or
// HEAD of its path answers the daemon's metrics in the Prometheus text format;
// any other path is 404 and any other method 405, each with a body saying what
// is served. On a listener with `auth` the metrics are a read: a bearer token
// (read or write) is needed unless allow_unauthenticated_reads is set, since
// they name the stores, paths and traffic of the cache. Every answer closes
// its connection: a scrape every few seconds costs one more TCP (or TLS)
// handshake, and no idle HTTP/1.1 connection is ever left for a stop to wait on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GrpcStatus } from '../../util/grpc-codes.js';
import { errorMessage } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { type ListenerAuth, checkAccess } from '../auth/listener-auth.js';
import type { DaemonRegistry } from './daemon-registry.js';

export interface MetricsEndpointOptions {
  /** experimental_prometheus.path. */
  readonly path: string;
  readonly registry: DaemonRegistry;
  /** Set when the listener has `auth`. */
  readonly auth: ListenerAuth | undefined;
  readonly logger: Logger;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function metricsEndpoint(opts: MetricsEndpointOptions): RequestHandler {
  return (req, res) => {
    const method = req.method ?? '';
    const path = (req.url ?? '').replace(/[?#].*$/, '');
    if (path !== opts.path) {
      return answer(res, 404, `ncache: nothing at ${path}; this listener serves Prometheus metrics at ${opts.path} (HTTP/1.1) and gRPC (HTTP/2)\n`);
    }
    if (method !== 'GET' && method !== 'HEAD') {
      return answer(res, 405, `ncache: ${method} ${path}: metrics are read with GET (or HEAD)\n`, { allow: 'GET, HEAD' });
    }
    const refusal = opts.auth === undefined ? undefined : refused(req, opts.auth, `${method} ${path}`);
    if (refusal !== undefined) return answer(res, refusal.status, `${refusal.message}\n`, refusal.headers);
    opts.registry.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': opts.registry.contentType, 'content-length': Buffer.byteLength(text), connection: 'close' });
        res.end(method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        opts.logger.warn(`Prometheus scrape of ${path} failed: ${errorMessage(err)}`);
        answer(res, 500, `ncache: collecting metrics failed: ${errorMessage(err)}\n`);
      },
    );
  };
}

interface HttpRefusal {
  readonly status: number;
  readonly message: string;
  readonly headers: Record<string, string>;
}

/** The listener's bearer-token decision for a read, as an HTTP status. */
function refused(req: IncomingMessage, auth: ListenerAuth, what: string): HttpRefusal | undefined {
  const header = req.headers.authorization;
  const refusal = checkAccess('read', what, header === undefined ? [] : [header], auth);
  if (refusal === undefined) return undefined;
  // Prometheus sends the token from scrape_config's `authorization: { credentials_file }`.
  const message = `ncache: ${refusal.details.replace(/add --remote_header=.*?\.bazelrc/, `set authorization.credentials_file in Prometheus's scrape_config to a file holding a token from ${auth.spec.tokens_file}`)}`;
  if (refusal.code === GrpcStatus.UNAUTHENTICATED) return { status: 401, message, headers: { 'www-authenticate': 'Bearer realm="ncache"' } };
  if (refusal.code === GrpcStatus.PERMISSION_DENIED) return { status: 403, message, headers: {} };
  return { status: 503, message, headers: {} };
}

function answer(res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', ...headers });
  res.end(body);
}
