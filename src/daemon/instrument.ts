// Wraps a gRPC service (definition + handlers) so every call is counted in
// Metrics without the service code knowing: requests, status codes, latency,
// wire bytes (through the (de)serializers), and cache hits and misses for the
// methods that are lookups. Everything per method is resolved once, when the
// service is registered; per call there are a few closures and number bumps.
import type {
  MethodDefinition,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { MethodMetrics, Metrics } from './metrics.js';

const CANCELLED = 1;
const UNKNOWN = 2;
const NOT_FOUND = 5;

/** Counts hits and misses from a finished call's request, response and status. */
type Classifier = (m: MethodMetrics, request: unknown, response: unknown, code: number) => void;

const lookupHit: Classifier = (m, _req, _res, code) => {
  if (code === 0) m.hits += 1;
  else if (code === NOT_FOUND) m.misses += 1;
};

const CLASSIFIERS: Record<string, Classifier> = {
  'cas/FindMissingBlobs': (m, req, res, code) => {
    if (code !== 0) return;
    const asked = (req as { blobDigests?: unknown[] } | undefined)?.blobDigests?.length ?? 0;
    const missing = (res as { missingBlobDigests?: unknown[] } | undefined)?.missingBlobDigests?.length ?? 0;
    m.hits += asked - missing;
    m.misses += missing;
  },
  'cas/BatchReadBlobs': (m, _req, res, code) => {
    if (code !== 0) return;
    for (const r of (res as { responses?: { status?: { code?: number } | null }[] } | undefined)?.responses ?? []) {
      const c = r.status?.code ?? 0;
      if (c === 0) m.hits += 1;
      else if (c === NOT_FOUND) m.misses += 1;
    }
  },
  'ac/GetActionResult': lookupHit,
  'bytestream/Read': lookupHit,
};

function statusCode(err: unknown): number {
  if (err === null || err === undefined) return 0;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : UNKNOWN;
}

export interface InstrumentedService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

/** The service with every method counted in `metrics`. */
export function instrumentService(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  metrics: Metrics,
): InstrumentedService {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  const impl: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const m = metrics.forPath(method.path);
    const classify = CLASSIFIERS[`${m.service}/${m.method}`];
    def[name] = countBytes(method, m);
    const handler = implementation[name];
    if (handler === undefined) continue;
    impl[name] = method.responseStream
      ? wrapStreaming(handler as (call: ServerWritableStream<unknown, unknown>) => void, m, classify)
      : wrapUnary(handler as (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void, m, classify);
  }
  return { definition: def as ServiceDefinition, implementation: impl };
}

/** The method definition with (de)serializers that add message sizes to the byte counters. */
function countBytes(method: MethodDefinition<unknown, unknown>, m: MethodMetrics): MethodDefinition<unknown, unknown> {
  const deserialize = method.requestDeserialize;
  const serialize = method.responseSerialize;
  return {
    ...method,
    requestDeserialize: (bytes: Buffer) => {
      m.bytesIn += bytes.length;
      return deserialize(bytes);
    },
    responseSerialize: (value: unknown) => {
      const bytes = serialize(value);
      m.bytesOut += bytes.length;
      return bytes;
    },
  };
}

/** Unary and client-streaming calls: they end when the handler calls back. */
function wrapUnary(
  handler: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void,
  m: MethodMetrics,
  classify: Classifier | undefined,
) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    m.requests += 1;
    const started = performance.now();
    handler(call, (err, value, ...rest) => {
      const code = statusCode(err);
      classify?.(m, call.request, value, code);
      m.finish(code, performance.now() - started);
      callback(err, value, ...rest);
    });
  };
}

/**
 * Server-streaming calls end with 'finish' (OK, or the status an 'error'
 * event set just before) or with the client cancelling.
 */
function wrapStreaming(
  handler: (call: ServerWritableStream<unknown, unknown>) => void,
  m: MethodMetrics,
  classify: Classifier | undefined,
) {
  return (call: ServerWritableStream<unknown, unknown>) => {
    m.requests += 1;
    const started = performance.now();
    let code = 0;
    let done = false;
    const end = (final: number) => {
      if (done) return;
      done = true;
      classify?.(m, call.request, undefined, final);
      m.finish(final, performance.now() - started);
    };
    call.once('error', (err: unknown) => (code = statusCode(err) || UNKNOWN));
    call.once('finish', () => end(code));
    call.once('cancelled', () => end(CANCELLED));
    handler(call);
  };
}
