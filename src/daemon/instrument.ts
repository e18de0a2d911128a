// Wraps a gRPC service (definition + handlers) so every call is counted in
// Metrics without the service code knowing: requests, status codes, latency,
// wire bytes (through the (de)serializers), and cache hits and misses for the
// methods that are lookups. Everything per method is resolved once, when the
// service is registered; per call there are a few closures and number bumps.
import { performance } from 'node:perf_hooks';
import { messageLength } from './grpc-server/frames.js';
import type { ServedMethodDefinition } from './grpc-server/router.js';
import type { ClientStreamCall, HandleClientStream, HandleServerStream, HandleUnary, UnaryCall, UnaryCallback } from './grpc-server/calls.js';
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

/** Method definitions by handler name. */
export type ServiceMethods = Record<string, ServedMethodDefinition>;

export interface InstrumentedService {
  readonly definition: ServiceMethods;
  /** Handlers by name, each of the shape its definition's stream flags say (grpc-server/router.ts registerService). */
  readonly implementation: Record<string, unknown>;
}

/** The service with every method counted in `metrics`. */
export function instrumentService(definition: ServiceMethods, implementation: Record<string, unknown>, metrics: Metrics): InstrumentedService {
  const def: ServiceMethods = {};
  const impl: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const m = metrics.forPath(method.path);
    const classify = CLASSIFIERS[`${m.service}/${m.method}`];
    def[name] = countBytes(method, m);
    const handler = implementation[name];
    if (handler === undefined) continue;
    if (method.responseStream) impl[name] = wrapStreaming(handler as HandleServerStream<unknown, unknown>, m, classify);
    else if (method.requestStream) impl[name] = wrapUnary(handler as HandleClientStream<unknown, unknown>, m, classify, () => undefined);
    else impl[name] = wrapUnary(handler as HandleUnary<unknown, unknown>, m, classify, (call: UnaryCall<unknown>) => call.request);
  }
  return { definition: def, implementation: impl };
}

/** The method definition with (de)serializers that add message sizes to the byte counters. */
function countBytes(method: ServedMethodDefinition, m: MethodMetrics): ServedMethodDefinition {
  const deserialize = method.requestDeserialize;
  const deserializePieces = method.requestDeserializePieces?.bind(method);
  const serialize = method.responseSerialize;
  return {
    ...method,
    requestDeserialize: (bytes: Buffer) => {
      m.bytesIn += bytes.length;
      return deserialize(bytes);
    },
    ...(deserializePieces === undefined
      ? {}
      : {
          requestDeserializePieces: (pieces: Buffer[]) => {
            m.bytesIn += messageLength(pieces);
            return deserializePieces(pieces);
          },
        }),
    responseSerialize: (value: unknown) => {
      const message = serialize(value);
      m.bytesOut += messageLength(message);
      return message;
    },
  };
}

/** Unary and client-streaming calls: they end when the handler calls back. */
function wrapUnary<C extends UnaryCall<unknown> | ClientStreamCall<unknown>>(
  handler: (call: C, callback: UnaryCallback<unknown>) => void,
  m: MethodMetrics,
  classify: Classifier | undefined,
  requestOf: (call: C) => unknown,
) {
  return (call: C, callback: UnaryCallback<unknown>) => {
    m.requests += 1;
    const started = performance.now();
    handler(call, (err, value) => {
      const code = statusCode(err);
      classify?.(m, requestOf(call), value, code);
      m.finish(code, performance.now() - started);
      callback(err, value);
    });
  };
}

/**
 * Server-streaming calls end with 'finish' (OK, or the status an 'error'
 * event set just before) or with the client cancelling.
 */
function wrapStreaming(handler: HandleServerStream<unknown, unknown>, m: MethodMetrics, classify: Classifier | undefined): HandleServerStream<unknown, unknown> {
  return (call) => {
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
