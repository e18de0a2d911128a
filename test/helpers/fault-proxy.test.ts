// The fault proxy's own behaviour, against a plain HTTP upstream that records
// what reaches it: faults per (operation, object), attempt runs, a request
// body cut at an exact byte, an outage that still counts requests, and stalls
// the client gives up on.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy, attemptRuns } from './fault-proxy.js';
import { waitFor } from './wait-for.js';

interface Received {
  method: string;
  path: string;
  bytes: number;
  complete: boolean;
  closed: boolean;
}

let upstream: http.Server;
let received: Received[];
let proxy: FaultProxy;

beforeEach(async () => {
  received = [];
  upstream = http.createServer((req, res) => {
    const entry: Received = { method: req.method ?? '', path: req.url ?? '', bytes: 0, complete: false, closed: false };
    received.push(entry);
    req.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
    req.on('close', () => (entry.closed = true));
    req.on('end', () => {
      entry.complete = true;
      res.end('x'.repeat(1000));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  proxy = await FaultProxy.start(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
});

afterEach(async () => {
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

/** One request through the proxy on a fresh connection: its status, or the error code that ended it. */
function send(method: string, path: string, body?: Buffer, timeoutMs?: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request(`${proxy.endpoint}${path}`, { method, agent: false, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.end(body);
  });
}

describe('FaultProxy', () => {
  it('perKey faults the first attempts of each (operation, object); attempt runs end at the first clean answer', async () => {
    proxy.inject({ ops: ['GetObject', 'PutObject'], perKey: 2, fault: { type: 'status', status: 503, code: 'SlowDown' } });
    const results = [];
    for (const path of ['/b/one', '/b/one', '/b/one', '/b/two', '/b/two', '/b/two', '/b/one']) results.push(await send('GET', path));
    results.push(await send('PUT', '/b/one', Buffer.from('abc')));
    expect(results).toEqual([503, 503, 200, 503, 503, 200, 200, 503]);
    const runs = attemptRuns(proxy.requests).map((r) => `${r.op} ${r.path} ${r.attempts.map((a) => a.fault ?? 'ok').join(',')}`);
    expect(runs).toEqual(['GetObject /b/one status,status,ok', 'GetObject /b/two status,status,ok', 'GetObject /b/one ok', 'PutObject /b/one status']);
  });

  it('a reset of an upload relays exactly afterBytes of the body upstream, then drops both connections', async () => {
    proxy.inject({ ops: ['PutObject'], fault: { type: 'reset', afterBytes: 70_000 } });
    const outcome = await send('PUT', '/b/key', Buffer.alloc(200_000, 7));
    expect(outcome).toMatch(/ECONNRESET|EPIPE|socket hang up/);
    await waitFor(() => received[0]?.closed, { what: 'the upstream request to be aborted' });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'PUT', bytes: 70_000, complete: false });
  });

  it("down in 'after-request' mode counts each refused request with its object", async () => {
    proxy.setDown(true, 'after-request');
    expect(await send('HEAD', '/b/k1')).toMatch(/ECONNRESET|socket hang up/);
    proxy.setDown(false);
    expect(await send('HEAD', '/b/k1')).toBe(200);
    expect(proxy.requests.map((r) => [r.op, r.path, r.fault])).toEqual([
      ['HeadObject', '/b/k1', 'down'],
      ['HeadObject', '/b/k1', undefined],
    ]);
    expect(received).toHaveLength(1);
  });

  it('an outage armed for the next request starts with it and ends by itself', async () => {
    const end = proxy.outageFromNextRequest(300);
    expect(await send('HEAD', '/b/k1')).toMatch(/ECONNRESET|socket hang up/);
    expect(await send('HEAD', '/b/k1')).toMatch(/ECONNRESET|socket hang up/);
    await waitFor(async () => (await send('HEAD', '/b/k1')) === 200, { what: 'the outage to end' });
    end();
    expect(proxy.requests.slice(0, 2).map((r) => r.fault)).toEqual(['down', 'down']);
    expect(proxy.requests.at(-1)!.at - proxy.requests[0]!.at).toBeGreaterThanOrEqual(300);
  });

  it('records how long a stalled request waited before its client gave up', async () => {
    proxy.inject({ ops: ['GetObject'], fault: { type: 'stall-body', afterBytes: 10 } });
    expect(await send('GET', '/b/slow', undefined, 300)).toMatch(/TIMEOUT|ECONNRESET|aborted/);
    // The proxy sees the close a moment after the client gives up.
    const abandoned = await waitFor(() => (proxy.stallsAbandoned().length > 0 ? proxy.stallsAbandoned() : undefined), {
      what: 'the proxy to see the client close the stalled request',
    });
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]!).toBeGreaterThanOrEqual(250);
  });
});
