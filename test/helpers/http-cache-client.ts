// A plain node:http client for the http_cache listener (the way Bazel talks
// to it: one keep-alive connection reused), plus a raw socket for requests
// no well-behaved client sends (a body cut short, a header without its body).
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** True when the request went over a connection an earlier request used (keep-alive). */
  readonly reusedSocket: boolean;
}

export interface HttpSend {
  readonly headers?: Record<string, string | number>;
  /** A buffer, or a stream of chunks (sent with the Content-Length in headers). */
  readonly body?: Buffer | AsyncIterable<Buffer>;
}

export class HttpCacheClient {
  /** One connection, reused: a second request on it proves keep-alive. */
  readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(readonly address: string) {}

  send(method: string, path: string, opts: HttpSend = {}): Promise<HttpAnswer> {
    const [host, port] = splitAddress(this.address);
    const headers: Record<string, string | number> = { ...opts.headers };
    if (Buffer.isBuffer(opts.body) && headers['content-length'] === undefined) headers['content-length'] = opts.body.length;
    return new Promise((resolve, reject) => {
      const req = request({ host, port, method, path, headers, agent: this.agent }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), reusedSocket: req.reusedSocket }));
      });
      req.on('error', reject);
      const body = opts.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else
        void (async () => {
          for await (const chunk of body) {
            if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          }
          req.end();
        })().catch(reject);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Writes `head` (request line and headers, CRLF-terminated) and `body` on a
 * fresh connection. `end: true` closes the writing side afterwards and
 * resolves with all the server sent before closing; `end: false` keeps it
 * open and resolves (dropping the connection) once a response head arrived.
 */
export function rawRequest(address: string, head: string, opts: { body?: Buffer; end: boolean }): Promise<string> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => {
      socket.write(head);
      if (opts.body) socket.write(opts.body);
      if (opts.end) socket.end();
    });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (s: string) => {
      received += s;
      // A complete response head is enough for tests that never finish their body.
      if (!opts.end && received.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('error', (err) => (received === '' ? reject(err) : resolve(received)));
    socket.on('close', () => resolve(received));
  });
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[|\]$/g, ''), Number(address.slice(at + 1))];
}
