// Which listener a local worker's `worker_api_endpoint` reaches. ncache runs
// its local workers in process (docs/architecture.md, "Execution service"),
// but keeps NativeLink's layout meaningful: the endpoint must name a
// listener of this config whose services hold `worker_api`, and that
// listener's `worker_api.scheduler` is the scheduler the worker serves.
import { isLoopbackHost, parseSocketAddress, serverLabel } from './schema-servers.js';
import { type ReadContext, issue } from './reader.js';
import { innermostScheduler } from './scheduler-tree.js';
import type { LocalWorkerSpec, NamedSchedulerSpec, ServerSpec } from './types.js';

export interface WorkerApiTarget {
  /** Index in `servers[]`. */
  readonly server: number;
  readonly scheduler: string;
}

/** The listener `worker.worker_api_endpoint` reaches, or why none does (a message for `workers[i].local.worker_api_endpoint`). */
export function workerApiTarget(servers: readonly ServerSpec[], worker: Pick<LocalWorkerSpec, 'worker_api_endpoint'>): WorkerApiTarget | string {
  const uri = worker.worker_api_endpoint.uri;
  const endpoint = endpointAddress(uri);
  if (endpoint === undefined) return `${JSON.stringify(uri)} names no port; give the port of a listener with services.worker_api, e.g. "grpc://127.0.0.1:50061"`;
  const withApi = servers.flatMap((s, i) => (s.services.worker_api === undefined ? [] : [{ s, i }]));
  const reached = servers.flatMap((s, i) => (reaches(endpoint, s.listener.http.socket_address) ? [{ s, i }] : []));
  const hit = reached.find(({ s }) => s.services.worker_api !== undefined);
  if (hit !== undefined) return { server: hit.i, scheduler: hit.s.services.worker_api!.scheduler };
  const listeners = withApi.map(({ s, i }) => `${serverLabel(s, i)} on ${s.listener.http.socket_address}`);
  const known = listeners.length === 0 ? 'no listener has services.worker_api' : `listeners with services.worker_api: ${listeners.join(', ')}`;
  const first = reached[0];
  if (first !== undefined) {
    return `${JSON.stringify(uri)} reaches ${serverLabel(first.s, first.i)}, which has no worker_api service; add services.worker_api: { scheduler: "<a scheduler name>" } to it (${known})`;
  }
  return `${JSON.stringify(uri)} reaches no listener of this config with services.worker_api (${known}); local workers run inside the daemon and serve the scheduler of the worker_api listener their endpoint names`;
}

function endpointAddress(uri: string): { host: string; port: number } | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.port === '') return undefined;
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase(), port: Number(url.port) };
}

/** Whether a client dialling `endpoint` on this machine lands on a listener bound to `socketAddress`. */
function reaches(endpoint: { host: string; port: number }, socketAddress: string): boolean {
  const listener = parseSocketAddress(socketAddress);
  if (typeof listener === 'string' || listener.port === 0 || listener.port !== endpoint.port) return false;
  const host = listener.host.toLowerCase();
  if (host === endpoint.host) return true;
  // A wildcard listener takes connections to any local address, loopback included.
  if (host === '0.0.0.0' || host === '::') return true;
  return isLoopbackHost(host) && isLoopbackHost(endpoint.host);
}

/**
 * Why no worker can serve the scheduler named `name` (its innermost kind runs
 * actions elsewhere), or undefined when one can.
 */
export function workerRefusal(config: { readonly schedulers: readonly (NamedSchedulerSpec | undefined)[] }, name: string): string | undefined {
  const index = config.schedulers.findIndex((s) => s?.name === name);
  const named = config.schedulers[index];
  if (named?.spec === undefined) return undefined;
  const inner = innermostScheduler(named.spec, `schedulers[${index}]`);
  if (inner.spec.kind === 'simple') return undefined;
  return (
    `it reaches scheduler ${JSON.stringify(name)}, whose innermost kind (${inner.path}) is ${inner.spec.kind}: it runs actions elsewhere, so no worker can serve it. ` +
    'Point this worker at a listener whose worker_api names a scheduler built on simple'
  );
}

/** Config check: every local worker's endpoint reaches a worker_api listener of a scheduler a worker can serve (entries that failed to read are already reported). */
export function checkWorkerEndpoints(
  ctx: ReadContext,
  servers: readonly (ServerSpec | undefined)[],
  workers: readonly (LocalWorkerSpec | undefined)[],
  schedulers: readonly (NamedSchedulerSpec | undefined)[],
): void {
  const readable = servers.every((s) => typeof s?.listener?.http?.socket_address === 'string' && s.services !== undefined);
  if (!readable) return;
  workers.forEach((w, i) => {
    if (typeof w?.worker_api_endpoint?.uri !== 'string') return;
    const target = workerApiTarget(servers as readonly ServerSpec[], w);
    const problem = typeof target === 'string' ? target : workerRefusal({ schedulers }, target.scheduler);
    if (problem !== undefined) issue(ctx, `workers[${i}].local.worker_api_endpoint`, problem);
  });
}
