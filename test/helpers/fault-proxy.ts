// A plain HTTP proxy in front of an S3 endpoint (s3rver) for tests. It counts
// requests by S3 operation and object, and injects faults by rule: error
// statuses with an S3 XML body (500 InternalError, 503 SlowDown, ...), a
// connection reset at an exact byte of a request or response body, added
// latency, a stall that never answers until released (or until the client
// gives up), and a 'down' mode that resets every connection. A rule hits a
// number of requests in all, or the first attempts of each (operation,
// object), so that every logical operation has to retry. Requests are
// forwarded byte for byte with their Host header, so SigV4 signatures stay
// valid.
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
   * Reset the connection mid-body: for a request with a body, after relaying
   * exactly `afterBytes` of it upstream (default half; the upstream request is
   * then aborted too); otherwise after relaying exactly `afterBytes` of the
   * response body (default half).
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
  /** How many matching requests it hits (default 1; unbounded with `perKey`). */
  times?: number;
  /** Hit only the first `perKey` attempts of each (operation, object path): every logical operation retries that often. */
  perKey?: number;
  /** Only requests whose path contains this (e.g. an object key). */
  pathIncludes?: string;
  fault: Fault;
}

export interface ProxiedRequest {
  readonly op: S3Operation;
  readonly method: string;
  readonly url: string;
  /** The URL's decoded path ("/bucket/key"): which object the request is about. */
  readonly path: string;
  /** Milliseconds since the proxy started, when the request arrived. */
  readonly at: number;
  readonly fault?: Fault['type'] | 'down';
}

/**
 * The attempts one logical operation made on one object: a run of requests
 * for the same (operation, path) that ends with the first one the proxy did
 * not fault (a client retries only after a failure). Concurrent operations on
 * one object interleave, which can only shorten runs.
 */
export interface AttemptRun {
  readonly op: S3Operation;
  readonly path: string;
  readonly attempts: readonly ProxiedRequest[];
}

/** Splits requests into attempt runs, in arrival order. */
export function attemptRuns(requests: readonly ProxiedRequest[]): AttemptRun[] {
  const open = new Map<string, ProxiedRequest[]>();
  const runs: AttemptRun[] = [];
  const close = (id: string, attempts: ProxiedRequest[]) => {
    open.delete(id);
    runs.push({ op: attempts[0]!.op, path: attempts[0]!.path, attempts });
  };
  for (const r of requests) {
    const id = `${r.op} ${r.path}`;
    const attempts = open.get(id) ?? [];
    attempts.push(r);
    open.set(id, attempts);
    if (r.fault === undefined) close(id, attempts);
  }
  for (const [id, attempts] of open) close(id, attempts);
  return runs;
}

export class FaultProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly rules: { rule: FaultRule; left: number; hitsPerKey: Map<string, number> }[] = [];
  private readonly stalled = new Set<() => void>();
  private readonly abandonedStalls: number[] = [];
  private readonly startedAt = performance.now();
  private readonly sockets = new Set<Socket>();
  private isDown = false;
  private downMode: 'refuse' | 'after-request' = 'refuse';
  /** Set by outageFromNextRequest(): the length of the outage the next request starts. */
  private armedOutageMs: number | undefined;
  private outageTimer: NodeJS.Timeout | undefined;
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
      if (proxy.isDown && proxy.downMode === 'refuse') {
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
    this.rules.push({ rule, left: rule.times ?? (rule.perKey === undefined ? 1 : Infinity), hitsPerKey: new Map() });
  }

  /** Drops rules not yet used up. */
  clearFaults(): void {
    this.rules.length = 0;
  }

  /**
   * 'down' resets every connection, new and open, until set back up. Mode
   * 'refuse' resets a new connection before reading anything; 'after-request'
   * reads each request's head first, so it is counted with its object.
   */
  setDown(down: boolean, mode: 'refuse' | 'after-request' = 'refuse'): void {
    this.isDown = down;
    this.downMode = mode;
    if (down) for (const s of this.sockets) s.resetAndDestroy();
  }

  /**
   * Goes down ('after-request') when the next request arrives, that request
   * being the first refused, and comes back up `ms` later: an outage that
   * starts with the client's traffic, however long the client takes to send
   * it. Returns what ends it early (and disarms it).
   */
  outageFromNextRequest(ms: number): () => void {
    this.armedOutageMs = ms;
    return () => {
      this.armedOutageMs = undefined;
      clearTimeout(this.outageTimer);
      this.setDown(false);
    };
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
    this.abandonedStalls.length = 0;
    this.peaks.clear();
  }

  /** How long each stalled request waited before its client gave up on it (ms), since the last resetCounts(). */
  stallsAbandoned(): readonly number[] {
    return this.abandonedStalls;
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
    clearTimeout(this.outageTimer);
    this.releaseStalls();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private takeFault(op: S3Operation, url: string, path: string): Fault | undefined {
    for (const entry of this.rules) {
      const { rule } = entry;
      if (entry.left <= 0) continue;
      if (rule.ops !== undefined && !rule.ops.includes(op)) continue;
      if (rule.pathIncludes !== undefined && !url.includes(rule.pathIncludes)) continue;
      if (rule.perKey !== undefined) {
        const id = `${op} ${path}`;
        const hits = entry.hitsPerKey.get(id) ?? 0;
        if (hits >= rule.perKey) continue;
        entry.hitsPerKey.set(id, hits + 1);
      }
      entry.left--;
      return rule.fault;
    }
    return undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const op = s3Operation(method, url);
    const seen = { op, method, url, path: decodeURIComponent(new URL(url, 'http://proxy').pathname), at: performance.now() - this.startedAt };
    if (this.armedOutageMs !== undefined) {
      this.setDown(true, 'after-request');
      // The outage's length is the fault itself, not a wait for anything.
      this.outageTimer = setTimeout(() => this.setDown(false), this.armedOutageMs);
      this.armedOutageMs = undefined;
    }
    if (this.isDown) {
      this.requests.push({ ...seen, fault: 'down' });
      req.socket.resetAndDestroy();
      return;
    }
    this.track(op, res);
    const fault = this.takeFault(op, url, seen.path);
    this.requests.push(fault === undefined ? seen : { ...seen, fault: fault.type });
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
          this.forwardRequestPrefix(req, fault.afterBytes ?? Math.floor(declared / 2));
          return;
        }
        this.forward(req, res, fault.afterBytes ?? -1);
        return;
      }
    }
  }

  /**
   * Sends upstream exactly `limit` bytes of the request body, then aborts the
   * upstream request and resets the client's connection: the server saw a body
   * cut at that byte, the client a connection dropped mid-upload.
   */
  private forwardRequestPrefix(req: http.IncomingMessage, limit: number): void {
    const upstream = http.request({
      host: this.target.hostname,
      port: this.target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
    upstream.on('error', () => {}); // aborted on purpose below
    let sent = 0;
    const onData = (chunk: Buffer) => {
      const piece = chunk.subarray(0, Math.max(0, limit - sent));
      sent += piece.length;
      if (sent < limit) {
        upstream.write(piece);
        return;
      }
      req.off('data', onData);
      req.pause();
      // Cut once the prefix has been handed to the upstream socket, so the server really sees it.
      upstream.write(piece, () => {
        upstream.destroy();
        req.socket.resetAndDestroy();
      });
    };
    req.on('data', onData);
  }

  /** Holds a request unanswered until releaseStalls() resets its connection, or the client gives up. */
  private stall(req: http.IncomingMessage): void {
    const since = performance.now();
    const release = () => {
      this.stalled.delete(release);
      req.socket.resetAndDestroy();
    };
    this.stalled.add(release);
    req.socket.once('close', () => {
      // Still held when the socket closed: the client closed it.
      if (this.stalled.delete(release)) this.abandonedStalls.push(performance.now() - since);
    });
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
