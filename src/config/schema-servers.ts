// `servers`: listeners and the REAPI services each one offers. Per-instance
// services are arrays of `{ instance_name, ... }` (NativeLink's current form);
// the older map form `{ "<instance>": { ... } }` is read too.
import { isIPv4, isIPv6 } from 'node:net';
import type {
  AcServiceSpec,
  ByteStreamServiceSpec,
  CapabilitiesServiceSpec,
  CasServiceSpec,
  ExecutionServiceSpec,
  FetchServiceSpec,
  ListenerTlsSpec,
  HttpListenerLimits,
  ListenerAuthSpec,
  PushServiceSpec,
  ServerSpec,
} from './types.js';
import {
  array,
  bool,
  describe,
  duration,
  Fields,
  fsPath,
  int,
  isPlainObject,
  issue,
  joinIndex,
  joinKey,
  object,
  oneOf,
  readValue,
  record,
  refName,
  size,
  str,
  type ReadContext,
  type Reader,
} from './reader.js';
import { TlsFileError, readTlsMaterial } from './tls-material.js';
import { readTokensFile } from './tokens-file.js';
import { NcacheError } from '../util/errors.js';

// NativeLink's ByteStream defaults.
export const BYTESTREAM_DEFAULTS = {
  max_bytes_per_stream: 64 * 1024,
  max_decoding_message_size: 4 * 1024 * 1024,
  persist_stream_on_disconnect_timeout: 10,
};

/** How messages name servers[index]: `servers[0]`, with its name when the config gave one (`servers[0] ("public")`). */
export function serverLabel(spec: Pick<ServerSpec, 'name'>, index: number): string {
  return `servers[${index}]${spec.name !== String(index) ? ` (${JSON.stringify(spec.name)})` : ''}`;
}

/** One server; `index` names it when the config does not (NativeLink does the same). */
export function server(index: number): Reader<ServerSpec> {
  return object<ServerSpec>((f) => {
    const spec: ServerSpec = {
      name: f.opt('name', str(), String(index)),
      listener: f.req('listener', listener, '{ http: { socket_address: "127.0.0.1:50051" } }'),
      services: f.opt('services', services, {}),
    };
    if (spec.listener?.protocol === 'http_cache') httpCacheServices(f, spec.services);
    return spec;
  });
}

/** An http_cache listener serves blobs and action results, nothing else; it needs at least one of them. */
function httpCacheServices(f: Fields, given: ServerSpec['services']): void {
  const at = f.at('services');
  for (const name of Object.keys(given)) {
    if (!HTTP_CACHE_SERVICES.includes(name)) {
      issue(f.ctx, joinKey(at, name), `an http_cache listener serves only cas and ac (Bazel's HTTP cache protocol has no ${name}); serve it from an http (gRPC) listener`);
    }
  }
  if (given.cas === undefined && given.ac === undefined) {
    issue(f.ctx, at, 'an http_cache listener needs cas and/or ac, e.g. { cas: [{ cas_store: "CAS" }], ac: [{ ac_store: "AC" }] }');
  }
}

const listener: Reader<ServerSpec['listener']> = object((f) => {
  f.reject('http3', 'QUIC/HTTP3 listeners are not supported by ncache; use http');
  if (f.has('http') && f.has('http_cache')) {
    issue(f.ctx, f.at('http_cache'), 'a listener is either http (gRPC) or http_cache (Bazel\'s HTTP/1.1 cache protocol); give each its own servers[] entry');
  }
  if (f.has('http_cache')) return { http: f.req('http_cache', httpCacheListener), protocol: 'http_cache' };
  if (!f.has('http') && !f.has('http3')) {
    issue(f.ctx, f.at('http'), 'missing required field (expected { socket_address: "HOST:PORT" }, or http_cache: { socket_address } for Bazel\'s HTTP cache protocol)');
  }
  return { http: f.maybe('http', httpListener) as ServerSpec['listener']['http'] };
});

/** How messages name the listener's config key: `listener.http` or `listener.http_cache`. */
export function listenerKey(spec: Pick<ServerSpec, 'listener'>): 'http' | 'http_cache' {
  return spec.listener.protocol ?? 'http';
}

/** The services Bazel's HTTP cache protocol has a use for: blobs and action results. */
export const HTTP_CACHE_SERVICES: readonly string[] = ['cas', 'ac'];

/**
 * `listener.http_cache` (ncache's own kind, NativeLink has none): Bazel's
 * HTTP/1.1 cache protocol (src/daemon/http-cache/). The keys it shares with
 * `http` mean the same; those that tune gRPC or HTTP/2 have nothing to act on.
 */
const httpCacheListener = object<ServerSpec['listener']['http']>((f) => {
  for (const key of ['compression', 'advanced_http', 'max_decoding_message_size', 'freebind']) {
    f.reject(key, `${key} tunes the gRPC listener (http); an http_cache listener has no use for it`);
  }
  const out: ServerSpec['listener']['http'] = {
    socket_address: f.req('socket_address', socketAddress, 'an address like "127.0.0.1:8080"'),
  };
  const tls = f.maybe('tls', listenerTls);
  if (tls !== undefined) out.tls = tls;
  const limits = f.maybe('limits', httpCacheLimits);
  if (limits !== undefined) out.limits = limits;
  const auth = f.maybe('auth', listenerAuth);
  if (auth !== undefined) out.auth = auth;
  return out;
});

const COMPRESSION = ['none', 'gzip', 'zstd'] as const;

const httpListener = object<ServerSpec['listener']['http']>((f) => {
  const out: ServerSpec['listener']['http'] = {
    socket_address: f.req('socket_address', socketAddress, 'an address like "127.0.0.1:50051"'),
  };
  const compression = f.maybe(
    'compression',
    object((c) => ({
      send_compression_algorithm: c.opt('send_compression_algorithm', oneOf(COMPRESSION), 'none'),
      accepted_compression_algorithms: c.opt('accepted_compression_algorithms', array(oneOf(COMPRESSION)), []),
    })),
  );
  if (compression !== undefined) out.compression = compression;
  const advanced = f.maybe('advanced_http', advancedHttp);
  if (advanced !== undefined) out.advanced_http = advanced;
  const tls = f.maybe('tls', listenerTls);
  if (tls !== undefined) out.tls = tls;
  const decoding = f.maybe('max_decoding_message_size', size({ min: MIN_MESSAGE_LIMIT_BYTES.decoding }));
  if (decoding !== undefined) out.max_decoding_message_size = decoding;
  const limits = f.maybe('limits', listenerLimits);
  if (limits !== undefined) out.limits = limits;
  f.maybe('freebind', bool);
  const auth = f.maybe('auth', listenerAuth);
  if (auth !== undefined) out.auth = auth;
  return out;
});

/** NativeLink's TLS keys; the files are read and checked here, so a listener that cannot serve TLS never loads. */
const listenerTls: Reader<ListenerTlsSpec> = (ctx, value, path) => {
  const before = ctx.issues.length;
  const spec = object<ListenerTlsSpec>((f) => {
    const out: ListenerTlsSpec = {
      cert_file: f.req('cert_file', fsPath, 'the path of the server certificate chain, a PEM file'),
      key_file: f.req('key_file', fsPath, "the path of the certificate's private key, a PEM file"),
    };
    const ca = f.maybe('client_ca_file', fsPath);
    if (ca !== undefined) out.client_ca_file = ca;
    const crl = f.maybe('client_crl_file', fsPath);
    if (crl !== undefined && ca === undefined) {
      issue(ctx, f.at('client_crl_file'), 'needs client_ca_file: client certificates are only asked for (and checked against revocations) when client_ca_file is set');
    } else if (crl !== undefined) {
      out.client_crl_file = crl;
    }
    return out;
  })(ctx, value, path);
  if (spec === undefined || ctx.issues.length !== before) return spec;
  try {
    readTlsMaterial(spec);
  } catch (err) {
    if (!(err instanceof TlsFileError)) throw err;
    issue(ctx, joinKey(path, err.field), err.message);
  }
  return spec;
};

/**
 * Below these a listener could not carry what the services themselves send
 * and receive (GetTree pages and inlined outputs of 2 MiB, batches).
 */
const MIN_MESSAGE_LIMIT_BYTES = { decoding: 1024 * 1024, encoding: 4 * 1024 * 1024 };

/** A timeout in seconds ("500ms" and "1.5s" allowed): 0 or less would drop every call at once. */
const positiveDuration: Reader<number> = (ctx, value, path) => {
  const seconds = duration({ fractional: true })(ctx, value, path);
  if (seconds === undefined || seconds > 0) return seconds;
  return issue(ctx, path, `expected a duration above 0 like "30s", got ${describe(value)}`);
};

/** ncache's extension to NativeLink's listener: bounds on what one client can make the daemon hold. */
const listenerLimits = object<HttpListenerLimits>((f) => {
  const out: HttpListenerLimits = {};
  const encoding = f.maybe('max_encoding_message_size', size({ min: MIN_MESSAGE_LIMIT_BYTES.encoding }));
  if (encoding !== undefined) out.max_encoding_message_size = encoding;
  return streamLimits(f, out);
});

/** The limits an HTTP/1.1 listener applies: no gRPC messages, so no message size. */
const httpCacheLimits = object<HttpListenerLimits>((f) => {
  f.reject('max_encoding_message_size', 'max_encoding_message_size bounds gRPC messages; an http_cache listener streams bodies and has none');
  return streamLimits(f, {});
});

/** Adds to `out` the limits both listener kinds share: upload size, idle connections, stalled uploads. */
function streamLimits(f: Fields, out: HttpListenerLimits): HttpListenerLimits {
  const upload = f.maybe('max_upload_size', size({ min: 1 }));
  if (upload !== undefined) out.max_upload_size = upload;
  const idle = f.maybe('idle_timeout', positiveDuration);
  if (idle !== undefined) out.idle_timeout = idle;
  const stall = f.maybe('upload_stall_timeout', positiveDuration);
  if (stall !== undefined) out.upload_stall_timeout = stall;
  return out;
}

/** The one advanced_http knob ncache applies (the listener's HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
export const MAX_CONCURRENT_STREAMS_KEY = 'experimental_http2_max_concurrent_streams';

/** ncache's own key (NativeLink has none): bearer tokens from a file, checked now so `validate` reports a bad one. */
const listenerAuth = object<ListenerAuthSpec>((a) => ({
  tokens_file: a.req('tokens_file', tokensFile, 'the path of a file with one bearer token per line'),
  allow_unauthenticated_reads: a.opt('allow_unauthenticated_reads', bool, false),
}));

const tokensFile: Reader<string> = (ctx, value, path) => {
  const file = fsPath(ctx, value, path);
  if (file === undefined) return undefined;
  try {
    readTokensFile(file);
  } catch (err) {
    if (!(err instanceof NcacheError)) throw err;
    issue(ctx, path, err.message);
  }
  return file;
};

const ADVANCED_HTTP_NUMBERS = [
  'http2_keep_alive_interval',
  'experimental_http2_max_pending_accept_reset_streams',
  'experimental_http2_initial_stream_window_size',
  'experimental_http2_initial_connection_window_size',
  'experimental_http2_max_frame_size',
  'experimental_http2_max_concurrent_streams',
  'experimental_http2_keep_alive_timeout',
  'experimental_http2_keep_alive_timeout_s',
  'experimental_http2_max_send_buf_size',
  'experimental_http2_max_header_list_size',
];
const ADVANCED_HTTP_BOOLS = ['experimental_http2_adaptive_window', 'experimental_http2_enable_connect_protocol'];

/** hyper tuning knobs: checked for type, kept so a warning can name those not applied. */
const advancedHttp = object<Record<string, number | boolean>>((f) => {
  const out: Record<string, number | boolean> = {};
  for (const key of ADVANCED_HTTP_NUMBERS) {
    // A stream limit of 0 would refuse every call.
    const v = f.maybe(key, int({ min: key === MAX_CONCURRENT_STREAMS_KEY ? 1 : 0 }));
    if (v !== undefined) out[key] = v;
  }
  for (const key of ADVANCED_HTTP_BOOLS) {
    const v = f.maybe(key, bool);
    if (v !== undefined) out[key] = v;
  }
  return out;
});

/**
 * "host:port", "[v6]:port", or ":port" (all interfaces, normalized to
 * "0.0.0.0:port"). Port 0 asks the OS for a free port.
 */
export const socketAddress: Reader<string> = (ctx, value, path) => {
  const text = str({ nonEmpty: true })(ctx, value, path);
  if (text === undefined) return undefined;
  const parsed = parseSocketAddress(text);
  if (typeof parsed === 'string') return issue(ctx, path, `${parsed}, got ${describe(value)}`);
  return parsed.host.includes(':') ? `[${parsed.host}]:${parsed.port}` : `${parsed.host}:${parsed.port}`;
};

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The parts of a listener address, or a reason it is not one. */
export function parseSocketAddress(text: string): { host: string; port: number } | string {
  const m = /^(?:\[([^\]]*)\]|([^:\[\]]*)):([0-9]{1,5})$/.exec(text.trim());
  if (!m) return 'expected HOST:PORT like "127.0.0.1:50051" or "[::1]:50051"';
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  if (m[1] !== undefined) {
    if (!isIPv6(m[1])) return `"${m[1]}" is not an IPv6 address`;
    return { host: m[1], port };
  }
  const host = m[2] === '' ? '0.0.0.0' : m[2]!;
  if (!isIPv4(host) && !(HOSTNAME_RE.test(host) && !/^[0-9.]+$/.test(host))) return `"${host}" is not an IP address or host name`;
  return { host, port };
}

/** A host name or address that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

type Services = ServerSpec['services'];

const services: Reader<Services> = object<Services>((f) => {
  const out: Services = {};
  const cas = f.maybe('cas', instances<CasServiceSpec>((e) => ({ instance_name: '', cas_store: storeRef(e, 'cas_store') }), chunkingIgnored));
  if (cas) out.cas = cas;
  const ac = f.maybe(
    'ac',
    instances<AcServiceSpec>((e) => ({ instance_name: '', ac_store: storeRef(e, 'ac_store'), read_only: e.opt('read_only', bool, false) })),
  );
  if (ac) out.ac = ac;
  const execution = f.maybe(
    'execution',
    instances<ExecutionServiceSpec>((e) => ({
      instance_name: '',
      cas_store: storeRef(e, 'cas_store'),
      scheduler: e.req('scheduler', refName('scheduler'), 'the name of a scheduler in "schedulers"'),
    })),
  );
  if (execution) out.execution = execution;
  const capabilities = f.maybe('capabilities', instances<CapabilitiesServiceSpec>(capabilitiesEntry));
  if (capabilities) out.capabilities = capabilities;
  const bytestream = f.maybe('bytestream', byteStream);
  if (bytestream) out.bytestream = bytestream;
  const health = f.maybe(
    'health',
    object((h) => {
      // NativeLink's HTTP status-page options; ncache serves grpc.health.v1 only.
      h.maybe('path', str());
      h.maybe('timeout_seconds', duration());
      return {} as Record<string, never>;
    }),
  );
  if (health) out.health = health;
  // Prometheus text format on this listener's port, beside its gRPC services (src/daemon/prometheus/).
  const prometheus = f.maybe('experimental_prometheus', object((p) => ({ path: p.opt('path', metricsPath, DEFAULT_METRICS_PATH) })));
  if (prometheus) out.experimental_prometheus = prometheus;

  // NativeLink services ncache accepts but does not serve yet.
  const workerApi = f.maybe(
    'worker_api',
    object((w) => ({ scheduler: w.req('scheduler', refName('scheduler'), 'the name of a scheduler') })),
  );
  if (workerApi) out.worker_api = workerApi;
  const admin = f.maybe('admin', object((a) => ({ path: a.opt('path', str(), '/admin') })));
  if (admin) out.admin = admin;
  const fetch = f.maybe('fetch', instances<FetchServiceSpec>((e) => ({ instance_name: '', fetch_store: storeRef(e, 'fetch_store') })));
  if (fetch) out.fetch = fetch;
  const push = f.maybe(
    'push',
    instances<PushServiceSpec>((e) => ({ instance_name: '', push_store: storeRef(e, 'push_store'), read_only: e.opt('read_only', bool, false) })),
  );
  if (push) out.push = push;
  const bep = f.maybe('experimental_bep', object((b) => ({ store: storeRef(b, 'store') })));
  if (bep) out.experimental_bep = bep;
  return out;
});

/** Where Prometheus scrapes when experimental_prometheus gives no path (NativeLink's default too). */
export const DEFAULT_METRICS_PATH = '/metrics';

/** experimental_prometheus.path: an absolute URL path; "" means the default, as in NativeLink. */
const metricsPath: Reader<string> = (ctx, value, path) => {
  const text = str()(ctx, value, path);
  if (text === undefined) return undefined;
  if (text === '') return DEFAULT_METRICS_PATH;
  if (!/^\/[\x21-\x7e]*$/.test(text) || /[?#]/.test(text)) {
    return issue(ctx, path, `expected a URL path starting with "/" (no spaces, query or fragment), like "${DEFAULT_METRICS_PATH}", got ${JSON.stringify(text)}`);
  }
  return text;
};

function storeRef(f: Fields, key: string): string {
  return f.req(key, refName('store'), 'the name of a store in "stores"');
}

/** CAS chunking (SplitBlob/SpliceBlob) is a newer NativeLink option ncache does not offer. */
function chunkingIgnored(f: Fields): void {
  f.reject('experimental_chunking', 'experimental_chunking (SplitBlob/SpliceBlob) is not supported by ncache; remove it');
}

function capabilitiesEntry(e: Fields): CapabilitiesServiceSpec {
  const out: CapabilitiesServiceSpec = { instance_name: '' };
  const re = e.maybe(
    'remote_execution',
    object((r) => ({ scheduler: r.req('scheduler', refName('scheduler'), 'the name of a scheduler in "schedulers"') })),
  );
  if (re) out.remote_execution = re;
  e.reject('remote_cache_compression', 'remote_cache_compression is not supported by ncache yet; remove it');
  return out;
}

/**
 * A per-instance service list. Array form: `[{ instance_name: "main", ... }]`
 * (instance_name defaults to ""); map form: `{ main: { ... } }`. Duplicate
 * instance names are reported.
 */
function instances<T extends { instance_name: string }>(
  entry: (f: Fields) => T,
  extra?: (f: Fields) => void,
): Reader<T[]> {
  return (ctx, value, path) => {
    const out: { item: T; path: string }[] = [];
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        const item = readValue(
          ctx,
          v,
          joinIndex(path, i),
          object((f) => {
            extra?.(f);
            const body = entry(f);
            return { ...body, instance_name: f.opt('instance_name', str(), '') };
          }),
        );
        if (item) out.push({ item, path: joinIndex(path, i) });
      });
    } else if (isPlainObject(value)) {
      for (const [name, v] of Object.entries(value)) {
        const item = readValue(
          ctx,
          v,
          joinKey(path, name),
          object((f) => {
            extra?.(f);
            return { ...entry(f), instance_name: name };
          }),
        );
        if (item) out.push({ item, path: joinKey(path, name) });
      }
    } else {
      return issue(ctx, path, `expected an array like [{ instance_name: "main", ... }], got ${describe(value)}`);
    }
    reportDuplicateInstances(
      ctx,
      out.map((o) => ({ name: o.item.instance_name, path: o.path })),
    );
    return out.map((o) => o.item);
  };
}

function reportDuplicateInstances(ctx: ReadContext, entries: { name: string; path: string }[]): void {
  const seen = new Map<string, string>();
  for (const { name, path } of entries) {
    const first = seen.get(name);
    if (first !== undefined) issue(ctx, path, `duplicate instance name ${JSON.stringify(name)} (already used at ${first})`);
    else seen.set(name, path);
  }
}

/**
 * ByteStream in either form, normalized to one `cas_stores` map:
 *   map form (NativeLink's older one, used by the seed):  { cas_stores: { main: "CAS" }, ... }
 *   array form (NativeLink's newer one): [{ instance_name: "main", cas_store: "CAS", ... }]
 * ncache applies one max_bytes_per_stream and one timeout to all instances,
 * so array entries that disagree on them are an error.
 */
const byteStream: Reader<ByteStreamServiceSpec> = (ctx, value, path) => {
  if (Array.isArray(value)) return byteStreamArray(ctx, value, path);
  return object<ByteStreamServiceSpec>((f) => ({
    cas_stores: f.req('cas_stores', record(refName('store')), '{ "<instance name>": "<store name>" }'),
    ...byteStreamTuning(f),
  }))(ctx, value, path);
};

function byteStreamTuning(f: Fields): Omit<ByteStreamServiceSpec, 'cas_stores'> {
  // NativeLink renamed the timeout to ..._s and keeps the old name as an alias.
  const timeoutKey = f.has('persist_stream_on_disconnect_timeout_s') ? 'persist_stream_on_disconnect_timeout_s' : 'persist_stream_on_disconnect_timeout';
  f.allow('persist_stream_on_disconnect_timeout', 'persist_stream_on_disconnect_timeout_s');
  return {
    max_bytes_per_stream: f.opt('max_bytes_per_stream', size({ min: 1 }), BYTESTREAM_DEFAULTS.max_bytes_per_stream),
    persist_stream_on_disconnect_timeout: f.opt(timeoutKey, duration(), BYTESTREAM_DEFAULTS.persist_stream_on_disconnect_timeout),
    max_decoding_message_size: f.opt('max_decoding_message_size', size({ min: 1 }), BYTESTREAM_DEFAULTS.max_decoding_message_size),
  };
}

function byteStreamArray(ctx: ReadContext, value: unknown[], path: string): ByteStreamServiceSpec | undefined {
  const entries: { instance_name: string; cas_store: string; tuning: Omit<ByteStreamServiceSpec, 'cas_stores'>; path: string }[] = [];
  value.forEach((v, i) => {
    const p = joinIndex(path, i);
    const e = readValue(
      ctx,
      v,
      p,
      object((f) => ({
        instance_name: f.opt('instance_name', str(), ''),
        cas_store: storeRef(f, 'cas_store'),
        tuning: byteStreamTuning(f),
      })),
    );
    if (e) entries.push({ ...e, path: p });
  });
  reportDuplicateInstances(
    ctx,
    entries.map((e) => ({ name: e.instance_name, path: e.path })),
  );
  const first = entries[0];
  if (!first) {
    return value.length === 0 ? issue(ctx, path, 'expected at least one { instance_name, cas_store } entry') : undefined;
  }
  for (const e of entries.slice(1)) {
    for (const key of Object.keys(first.tuning) as (keyof typeof first.tuning)[]) {
      if (e.tuning[key] !== first.tuning[key]) {
        issue(ctx, joinKey(e.path, key), `ncache applies one ${key} to every bytestream instance; this differs from ${first.path} (${first.tuning[key]})`);
      }
    }
  }
  const cas_stores: Record<string, string> = {};
  for (const e of entries) cas_stores[e.instance_name] = e.cas_store;
  return { cas_stores, ...first.tuning };
}
