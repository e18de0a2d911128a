// One HTTP/1.1 (or HTTPS) request over a fresh connection, as Prometheus
// scrapes: for the metrics tests and the Prometheus benchmark (which cannot
// import the text-format parser's types, kept under test/).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export interface GetOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** For https: the CA to trust; the certificate is checked for "localhost". */
  readonly ca?: Buffer;
  /** For https under mTLS: the client's certificate and key (PEM). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** One request over a fresh HTTP/1.1 connection. */
export function httpGet(url: string, opts: GetOptions = {}): Promise<HttpAnswer> {
  const secure = url.startsWith('https:');
  const request = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false, ...(secure ? { ca: opts.ca, cert: opts.cert, key: opts.key, servername: 'localhost' } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer from ${url} within 20 s`)));
    req.on('error', reject);
    req.end();
  });
}

