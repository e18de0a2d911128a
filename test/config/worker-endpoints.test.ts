// A local worker's worker_api_endpoint must reach a listener of the same
// config that serves worker_api; that listener names the worker's scheduler.
import { describe, expect, it } from 'vitest';
import { workerApiTarget } from '../../src/config/worker-endpoints.js';
import { baseConfig, issuesOf, parse } from './helpers.js';

/** NativeLink's basic_cas layout: the public listener, and a second one for workers. */
function basicCas(uri: string, workerListener = '0.0.0.0:50061') {
  const c = baseConfig();
  c.stores.push({
    name: 'WORKER_FAST_SLOW',
    fast_slow: { fast: { filesystem: { content_path: '/w/cas', temp_path: '/w/tmp' } }, slow: { ref_store: { name: 'CAS' } } },
  });
  c.schedulers = [{ name: 'MAIN_SCHEDULER', simple: {} }];
  c.servers[0].listener.http.socket_address = '127.0.0.1:50051';
  c.servers.push({ name: 'worker_api', listener: { http: { socket_address: workerListener } }, services: { worker_api: { scheduler: 'MAIN_SCHEDULER' } } });
  c.workers = [{ local: { worker_api_endpoint: { uri }, cas_fast_slow_store: 'WORKER_FAST_SLOW', work_directory: '/w/work' } }];
  return c;
}

describe('worker_api_endpoint', () => {
  it('reaches the worker_api listener: same address, a wildcard listener, or loopback by another name', () => {
    for (const [uri, listener] of [
      ['grpc://127.0.0.1:50061', '0.0.0.0:50061'],
      ['grpc://127.0.0.1:50061', '127.0.0.1:50061'],
      ['grpc://localhost:50061', '127.0.0.1:50061'],
      ['grpc://[::1]:50061', '[::]:50061'],
      ['http://127.0.0.1:50061', '127.0.0.1:50061'],
    ] as const) {
      const config = parse(basicCas(uri, listener));
      expect(workerApiTarget(config.servers, config.workers[0]!), `${uri} -> ${listener}`).toEqual({ server: 1, scheduler: 'MAIN_SCHEDULER' });
    }
  });

  it('is a config error naming the field when it reaches no worker_api listener', () => {
    expect(issuesOf(basicCas('grpc://127.0.0.1:50099'))).toEqual([
      'workers[0].local.worker_api_endpoint: "grpc://127.0.0.1:50099" reaches no listener of this config with services.worker_api ' +
        '(listeners with services.worker_api: servers[1] ("worker_api") on 0.0.0.0:50061); ' +
        'local workers run inside the daemon and serve the scheduler of the worker_api listener their endpoint names',
    ]);
    // Another machine's address is never this daemon's listener.
    expect(issuesOf(basicCas('grpc://10.1.2.3:50061', '127.0.0.1:50061'))).toHaveLength(1);
  });

  it('names the listener it reaches when that listener has no worker_api', () => {
    expect(issuesOf(basicCas('grpc://127.0.0.1:50051'))).toEqual([
      'workers[0].local.worker_api_endpoint: "grpc://127.0.0.1:50051" reaches servers[0], which has no worker_api service; ' +
        'add services.worker_api: { scheduler: "<a scheduler name>" } to it (listeners with services.worker_api: servers[1] ("worker_api") on 0.0.0.0:50061)',
    ]);
  });

  it('needs a port, and never matches a listener on port 0 (its port is only known once bound)', () => {
    expect(issuesOf(basicCas('grpc://127.0.0.1'))).toEqual([
      'workers[0].local.worker_api_endpoint: "grpc://127.0.0.1" names no port; give the port of a listener with services.worker_api, e.g. "grpc://127.0.0.1:50061"',
    ]);
    expect(issuesOf(basicCas('grpc://127.0.0.1:0', '127.0.0.1:0'))).toHaveLength(1);
  });
});
