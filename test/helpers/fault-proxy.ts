// A plain HTTP proxy in front of an S3 endpoint (s3rver) for tests. It counts
// requests by S3 operation and injects faults by rule: error statuses with an
// S3 XML body, a connection reset mid-body, added latency, a stall that never
// answers until released, and a 'down' mode that resets every connection.
// Requests are forwarded byte for byte with their Host header, so SigV4
// signatures stay valid.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type S3Operation =
  | 'GetObject'
  | 'PutObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'ListObjectsV2'
  | 'ListObjects'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads'
  | 'HeadBucket'
  | 'Other';

/** The S3 operation of a path-style request, from its method, path and query. */
export function s3Operation(method: string, rawUrl: string): S3Operation {
  const url = new URL(rawUrl, 'http://proxy');
  const q = url.searchParams;
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const onObject = segments.length >= 2;
  switch (method) {
    case 'HEAD':
      return onObject ? 'HeadObject' : 'HeadBucket';
    case 'GET':
      if (!onObject) {
        if (q.has('uploads')) return 'ListMultipartUploads';
        return q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
      }
      return 'GetObject';
    case 'PUT':
      if (onObject && q.has('partNumber') && q.has('uploadId')) return 'UploadPart';
      return onObject ? 'PutObject' : 'Other';
    case 'POST':
      if (onObject && q.has('uploads')) return 'CreateMultipartUpload';
      if (onObject && q.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Other';
    case 'DELETE':
      if (onObject && q.has('uploadId')) return 'AbortMultipartUpload';
      return onObject ? 'DeleteObject' : 'Other';
    default:
      return 'Other';
  }
}

export type Fault =
  /** Answer with this status and an S3 XML error body (500 InternalError, 503 SlowDown, ...). */
  | { type: 'status'; status: number; code?: string; message?: string }
  /**
   * Reset the connection mid-body: for a request with a body, after receiving
   * `afterBytes` of it (default half); otherwise after relaying `afterBytes`
   * of the response body (default half).
   */
  | { type: 'reset'; afterBytes?: number }
  /** Forward after `ms` milliseconds. */
  | { type: 'latency'; ms: number }
  /** Never answer until releaseStalls() (which then resets the connection). */
  | { type: 'stall' }
  /** Relay the response headers and `afterBytes` of the body (default half), then go silent until released. */
  | { type: 'stall-body'; afterBytes?: number };

export interface FaultRule {
  /** Operations it applies to (default: all). */
  ops?: S3Operation[];
  /** How many matching requests it hits (default 1). */
  times?: number;
  /** Only requests whose path contains this (e.g. an object key). */
  pathIncludes?: string;
  fault: Fault;
}

export interface ProxiedRequest {
  readonly op: S3Operation;
  readonly method: string;
  readonly url: string;
  readonly fault?: Fault['type'] | 'down';
}

export class FaultProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly rules: { rule: FaultRule; left: number }[] = [];
  private readonly stalled = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  private isDown = false;
  private readonly inFlight = new Map<S3Operation, number>();
  private readonly peaks = new Map<S3Operation | 'all', number>();
  private stallWaiters: (() => void)[] = [];

  private constructor(
    private readonly server: http.Server,
    private readonly target: URL,
  ) {}

  /** Starts a proxy on 127.0.0.1:0 forwarding to `targetEndpoint` (http://host:port). */
  static async start(targetEndpoint: string): Promise<FaultProxy> {
    const server = http.createServer();
    const proxy = new FaultProxy(server, new URL(targetEndpoint));
    server.on('connection', (socket) => {
      if (proxy.isDown) {
        socket.resetAndDestroy();
        return;
      }
      proxy.sockets.add(socket);
      socket.once('close', () => proxy.sockets.delete(socket));
    });
    server.on('request', (req, res) => proxy.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Adds a fault rule; rules are tried in the order added. */
  inject(rule: FaultRule): void {
    this.rules.push({ rule, left: rule.times ?? 1 });
  }

  /** Drops rules not yet used up. */
  clearFaults(): void {
    this.rules.length = 0;
  }

  /** 'down' resets every connection, new and open, until set back up. */
  setDown(down: boolean): void {
    this.isDown = down;
    if (down) for (const s of this.sockets) s.resetAndDestroy();
  }

  /** Requests counted by operation (faulted ones included: the client sent them). */
  counts(): Partial<Record<S3Operation, number>> {
    const out: Partial<Record<S3Operation, number>> = {};
    for (const r of this.requests) out[r.op] = (out[r.op] ?? 0) + 1;
    return out;
  }

  count(op: S3Operation): number {
    return this.requests.filter((r) => r.op === op).length;
  }

  resetCounts(): void {
    this.requests.length = 0;
    this.peaks.clear();
  }

  /** Most requests (of one operation, or of all) seen open at once since the last resetCounts(). */
  peakInFlight(op: S3Operation | 'all' = 'all'): number {
    return this.peaks.get(op) ?? 0;
  }

  private track(op: S3Operation, res: http.ServerResponse): void {
    const bump = (k: S3Operation, d: number) => this.inFlight.set(k, (this.inFlight.get(k) ?? 0) + d);
    bump(op, 1);
    const total = [...this.inFlight.values()].reduce((a, b) => a + b, 0);
    this.peaks.set(op, Math.max(this.peaks.get(op) ?? 0, this.inFlight.get(op)!));
    this.peaks.set('all', Math.max(this.peaks.get('all') ?? 0, total));
    res.once('close', () => bump(op, -1));
  }

  /** Resolves once `n` requests are stalled (a readiness signal for stall tests). */
  waitForStalled(n = 1): Promise<void> {
    if (this.stalled.size >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.stalled.size >= n) resolve();
        else this.stallWaiters.push(check);
      };
      this.stallWaiters.push(check);
    });
  }

  /** Ends every stalled request by resetting its connection. */
  releaseStalls(): void {
    for (const release of [...this.stalled]) release();
  }

  async close(): Promise<void> {
    this.releaseStalls();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private takeFault(op: S3Operation, url: string): Fault | undefined {
    for (const entry of this.rules) {
      const { rule } = entry;
      if (entry.left <= 0) continue;
      if (rule.ops !== undefined && !rule.ops.includes(op)) continue;
      if (rule.pathIncludes !== undefined && !url.includes(rule.pathIncludes)) continue;
      entry.left--;
      return rule.fault;
    }
    return undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const op = s3Operation(method, url);
    if (this.isDown) {
      this.requests.push({ op, method, url, fault: 'down' });
      req.socket.resetAndDestroy();
      return;
    }
    this.track(op, res);
    const fault = this.takeFault(op, url);
    this.requests.push(fault === undefined ? { op, method, url } : { op, method, url, fault: fault.type });
    switch (fault?.type) {
      case undefined:
        this.forward(req, res);
        return;
      case 'status': {
        const code = fault.code ?? (fault.status === 503 ? 'SlowDown' : 'InternalError');
        // Read the request body first so the client sees a clean answer, not a broken pipe.
        req.resume();
        req.once('end', () => {
          const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${fault.message ?? 'injected by fault proxy'}</Message><RequestId>fault</RequestId></Error>`;
          res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
        return;
      }
      case 'latency': {
        const timer = setTimeout(() => this.forward(req, res), fault.ms);
        req.socket.once('close', () => clearTimeout(timer));
        return;
      }
      case 'stall': {
        req.resume();
        this.stall(req);
        return;
      }
      case 'stall-body':
        this.forward(req, res, fault.afterBytes ?? -1, 'stall');
        return;
      case 'reset': {
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > 0) {
          const limit = fault.afterBytes ?? Math.floor(declared / 2);
          let seen = 0;
          req.on('data', (chunk: Buffer) => {
            seen += chunk.length;
            if (seen >= limit) req.socket.resetAndDestroy();
          });
          return;
        }
        this.forward(req, res, fault.afterBytes ?? -1);
        return;
      }
    }
  }

  /** Holds a request unanswered until releaseStalls() resets its connection. */
  private stall(req: http.IncomingMessage): void {
    const release = () => {
      this.stalled.delete(release);
      req.socket.resetAndDestroy();
    };
    this.stalled.add(release);
    req.socket.once('close', () => this.stalled.delete(release));
    for (const w of this.stallWaiters.splice(0)) w();
  }

  /**
   * Forwards to the target. With `cutAfter` >= 0 (or -1 = half the body), only
   * that much response body is relayed, then the connection is reset or stalled.
   */
  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    cutAfter?: number,
    then: 'reset' | 'stall' = 'reset',
  ): void {
    const resetAfter = cutAfter;
    const upstream = http.request(
      {
        host: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (resetAfter === undefined) {
          up.pipe(res);
          return;
        }
        const length = Number(up.headers['content-length'] ?? 0);
        const limit = resetAfter >= 0 ? resetAfter : Math.floor(length / 2);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          const room = limit - sent;
          if (room > 0) res.write(chunk.subarray(0, room));
          sent += Math.min(chunk.length, Math.max(room, 0));
          if (sent >= limit) {
            up.destroy();
            if (then === 'reset') req.socket.resetAndDestroy();
            else this.stall(req);
          }
        });
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  }
}
