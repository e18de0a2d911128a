// `schedulers` and `workers`: remote execution. ncache has NativeLink's
// `simple`, `grpc`, `cache_lookup` and `property_modifier` schedulers (the last two
// nest another scheduler inline, as NativeLink does) and its `local` worker;
// other kinds get a clear error.
import type {
  CacheLookupSchedulerSpec,
  EnvironmentSource,
  GrpcSchedulerSpec,
  LocalWorkerSpec,
  NamedSchedulerSpec,
  PropertyMatch,
  PropertyModification,
  PropertyModifierSchedulerSpec,
  SchedulerKind,
  SchedulerSpec,
  SimpleSchedulerSpec,
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
  joinKey,
  nearest,
  num,
  object,
  oneOf,
  type Reader,
  readValue,
  record,
  refName,
  str,
  url,
} from './reader.js';
import { readUpstreamConnection, upstreamEndpoint } from './schema-upstream.js';

// NativeLink's simple-scheduler defaults.
export const SIMPLE_SCHEDULER_DEFAULTS = {
  retain_completed_for_s: 60,
  client_action_timeout_s: 60,
  worker_timeout_s: 5,
  max_job_retries: 3,
  max_action_executing_timeout_s: 0,
  worker_match_logging_interval_s: 10,
};
export const WORKER_DEFAULTS = { max_action_timeout: 1200, endpoint_timeout: 5 };

const PROPERTY_MATCHES: readonly PropertyMatch[] = ['minimum', 'exact', 'priority', 'ignore'];
const SCHEDULER_KINDS: readonly SchedulerKind[] = ['simple', 'grpc', 'cache_lookup', 'property_modifier'];
const UNSUPPORTED_SCHEDULERS: Readonly<Record<string, string>> = {
  historical_resource: 'scheduler kind "historical_resource" is not supported by ncache; size actions with platform properties instead',
};
const KIND_LIST = `${SCHEDULER_KINDS.join(', ')}`;

/** One entry of `schedulers`: `{ name, simple: {...} }` (or another kind). */
export const namedScheduler: Reader<NamedSchedulerSpec> = (ctx, value, path) => {
  if (!isPlainObject(value)) return issue(ctx, path, `expected a scheduler like { name: "MAIN", simple: {} }, got ${describe(value)}`);
  return object<NamedSchedulerSpec>((f) => ({
    name: f.req('name', str({ nonEmpty: true }), 'a name for execution services to refer to'),
    spec: schedulerKind(f),
  }))(ctx, value, path);
};

/** A map-form scheduler body `{ simple: {...} }` (NativeLink's older layout), given its name. */
export function schedulerBody(name: string): Reader<NamedSchedulerSpec> {
  return object<NamedSchedulerSpec>((f) => ({ name, spec: schedulerKind(f) }));
}

/** A scheduler nested in another's `scheduler` field: `{ simple: {...} }`, no name. */
const nestedScheduler: Reader<SchedulerSpec> = object<SchedulerSpec>((f) => schedulerKind(f));

/** The one kind key of a scheduler object, read by its kind's reader. */
function schedulerKind(f: Fields): SchedulerSpec {
  for (const [kind, why] of Object.entries(UNSUPPORTED_SCHEDULERS)) f.reject(kind, why);
  const present = SCHEDULER_KINDS.filter((k) => f.has(k));
  const unsupported = Object.keys(UNSUPPORTED_SCHEDULERS).some((k) => Object.hasOwn(f.raw, k));
  const [kind, ...more] = present;
  if (kind === undefined) {
    const others = Object.keys(f.raw).filter((k) => k !== 'name');
    if (!unsupported && others.length === 0) issue(f.ctx, f.path, `missing scheduler kind (expected one of ${KIND_LIST}: { ... })`);
    return undefined as never;
  }
  if (more.length > 0) issue(f.ctx, f.path, `a scheduler has one kind, got ${present.join(' and ')}; nest one in the other's \`scheduler\` field instead`);
  switch (kind) {
    case 'simple':
      return f.req('simple', simpleScheduler);
    case 'grpc':
      return f.req('grpc', grpcScheduler);
    case 'cache_lookup':
      return f.req('cache_lookup', cacheLookupScheduler);
    case 'property_modifier':
      return f.req('property_modifier', propertyModifierScheduler);
  }
}

const NESTED_EXAMPLE = '{ simple: { ... } }';

/** NativeLink's GrpcSpec: one `endpoint`, and the connection keys the grpc store shares (schema-upstream.ts). */
const grpcScheduler = object<GrpcSchedulerSpec>((f) => {
  const endpoint = f.req('endpoint', upstreamEndpoint, '{ address: "grpc://host:port" }');
  return { kind: 'grpc', connection: readUpstreamConnection(f, endpoint === undefined ? [] : [endpoint]) };
});

const cacheLookupScheduler = object<CacheLookupSchedulerSpec>((f) => ({
  kind: 'cache_lookup',
  ac_store: f.req('ac_store', refName('store'), 'the name of an action cache store'),
  scheduler: f.req('scheduler', nestedScheduler, NESTED_EXAMPLE),
}));

const propertyModifierScheduler = object<PropertyModifierSchedulerSpec>((f) => ({
  kind: 'property_modifier',
  modifications: f.req('modifications', array(propertyModification), 'an array like [{ add: { name, value } }, { remove: "name" }]'),
  scheduler: f.req('scheduler', nestedScheduler, NESTED_EXAMPLE),
}));

const MODIFICATIONS = ['add', 'remove', 'replace'] as const;

/** `{ add: { name, value } }`, `{ remove: "name" }` or `{ replace: { name, value?, new_name, new_value? } }`. */
const propertyModification: Reader<PropertyModification> = object<PropertyModification>((f) => {
  const present = MODIFICATIONS.filter((k) => f.has(k));
  if (present.length !== 1) {
    const got = present.length === 0 ? 'none' : present.join(' and ');
    issue(f.ctx, f.path, `expected exactly one of add: { name, value }, remove: "name", replace: { name, new_name, ... }; got ${got}`);
    return undefined as never;
  }
  if (f.has('add')) return { add: f.req('add', propertyAddition) };
  if (f.has('remove')) return { remove: f.req('remove', str({ nonEmpty: true })) };
  return { replace: f.req('replace', propertyReplacement) };
});

const propertyAddition = object<{ name: string; value: string }>((f) => ({
  name: f.req('name', str({ nonEmpty: true })),
  value: f.req('value', str()),
}));

const propertyReplacement = object<{ name: string; value?: string; new_name: string; new_value?: string }>((f) => {
  const out: { name: string; value?: string; new_name: string; new_value?: string } = {
    name: f.req('name', str({ nonEmpty: true })),
    new_name: f.req('new_name', str({ nonEmpty: true })),
  };
  const value = f.maybe('value', str());
  if (value !== undefined) out.value = value;
  const newValue = f.maybe('new_value', str());
  if (newValue !== undefined) out.new_value = newValue;
  return out;
});

const simpleScheduler = object<SimpleSchedulerSpec>((f) => {
  const d = SIMPLE_SCHEDULER_DEFAULTS;
  const out: SimpleSchedulerSpec = {
    kind: 'simple',
    supported_platform_properties: f.opt('supported_platform_properties', record(oneOf(PROPERTY_MATCHES)), {}),
    retain_completed_for_s: f.opt('retain_completed_for_s', duration(), d.retain_completed_for_s),
    client_action_timeout_s: f.opt('client_action_timeout_s', duration(), d.client_action_timeout_s),
    worker_timeout_s: f.opt('worker_timeout_s', duration(), d.worker_timeout_s),
    max_job_retries: f.opt('max_job_retries', int(), d.max_job_retries),
    allocation_strategy: f.opt('allocation_strategy', oneOf(['least_recently_used', 'most_recently_used'] as const), 'least_recently_used'),
    max_action_executing_timeout_s: f.opt('max_action_executing_timeout_s', duration(), d.max_action_executing_timeout_s),
    worker_match_logging_interval_s: f.opt('worker_match_logging_interval_s', loggingInterval, d.worker_match_logging_interval_s),
  };
  f.maybe('experimental_backend', schedulerBackend);
  return out;
});

/** A duration, or -1 for "never". */
const loggingInterval: Reader<number> = (ctx, value, path) =>
  value === -1 || value === '-1' ? -1 : duration()(ctx, value, path);

/** NativeLink keeps scheduler state in memory or Redis; ncache only in memory. */
const schedulerBackend: Reader<'memory'> = (ctx, value, path) => {
  if (value === 'memory' || (isPlainObject(value) && Object.keys(value).length === 1 && isPlainObject(value.memory))) return 'memory';
  if (isPlainObject(value) && 'redis' in value) return issue(ctx, joinKey(path, 'redis'), 'a Redis scheduler backend is not supported by ncache (state is kept in memory)');
  return issue(ctx, path, `expected "memory", got ${describe(value)}`);
};

/** One entry of `workers`: `{ local: {...} }`. */
export const worker: Reader<LocalWorkerSpec> = object<LocalWorkerSpec>((f) => {
  if (!f.has('local')) {
    if (Object.keys(f.raw).length === 0) issue(f.ctx, f.path, 'missing worker kind (expected local: { ... })');
    else {
      for (const key of Object.keys(f.raw)) {
        const near = nearest(key, ['local']);
        f.reject(key, near ? `unknown worker kind (did you mean "local"?)` : `worker kind "${key}" is not supported by ncache (supported: local)`);
      }
    }
    return undefined as never;
  }
  return f.req('local', localWorker);
});

const localWorker = object<LocalWorkerSpec>((f) => {
  const out: LocalWorkerSpec = {
    kind: 'local',
    worker_api_endpoint: f.req('worker_api_endpoint', endpoint, '{ uri: "grpc://127.0.0.1:50061" }'),
    cas_fast_slow_store: f.req('cas_fast_slow_store', refName('store'), 'the name of a fast_slow store'),
    work_directory: f.req('work_directory', fsPath, 'a directory path'),
    platform_properties: f.opt('platform_properties', record(workerProperty), {}),
    upload_action_result: f.opt('upload_action_result', uploadActionResult, { ...UPLOAD_DEFAULTS }),
    max_action_timeout: f.opt('max_action_timeout', duration(), WORKER_DEFAULTS.max_action_timeout),
  };
  const name = f.maybe('name', str());
  if (name !== undefined) out.name = name;
  const entrypoint = f.maybe('entrypoint', str());
  if (entrypoint !== undefined) out.entrypoint = entrypoint;
  const external = f.maybe('timeout_handled_externally', bool);
  if (external !== undefined) out.timeout_handled_externally = external;
  const env = f.maybe('additional_environment', record(environmentSource));
  if (env !== undefined) out.additional_environment = env;
  const script = f.maybe('experimental_precondition_script', fsPath);
  if (script !== undefined) out.experimental_precondition_script = script;
  // ncache extensions (src/worker/).
  const keepFailed = f.maybe('keep_failed_action_directories', bool);
  if (keepFailed !== undefined) out.keep_failed_action_directories = keepFailed;
  const maxDepth = f.maybe('max_input_tree_depth', int({ min: 1 }));
  if (maxDepth !== undefined) out.max_input_tree_depth = maxDepth;
  const maxEntries = f.maybe('max_input_tree_entries', int({ min: 1 }));
  if (maxEntries !== undefined) out.max_input_tree_entries = maxEntries;
  return out;
});

const endpoint = object<LocalWorkerSpec['worker_api_endpoint']>((f) => {
  f.reject('tls_config', 'TLS to the worker API is not supported by ncache; use a grpc:// uri');
  return {
    uri: f.req('uri', endpointUri, 'a URI like "grpc://127.0.0.1:50061"'),
    timeout: f.opt('timeout', num({ min: 0 }), WORKER_DEFAULTS.endpoint_timeout),
  };
});

const endpointUri = url({
  protocols: ['grpc:', 'http:'],
  example: 'grpc://127.0.0.1:50061',
  schemeHint: 'a grpc:// URI (TLS is not supported)',
});

/** `{ values: ["a", "b"] }`; NativeLink's `query_cmd` form is not supported. */
const workerProperty = object<{ values: string[] }>((f) => {
  f.reject('query_cmd', 'query_cmd platform properties are not supported by ncache; list the values instead');
  if (f.has('query_cmd')) return undefined as never;
  return { values: f.req('values', array(str()), 'an array of strings') };
});

const STRATEGIES = ['success_only', 'never', 'everything', 'failures_only'] as const;

// NativeLink's defaults: cache successes, keep failures for inspection, no messages.
const UPLOAD_DEFAULTS = {
  upload_ac_results_strategy: 'success_only',
  upload_historical_results_strategy: 'failures_only',
  success_message_template: '',
  failure_message_template: '',
} as const;

const uploadActionResult = object<LocalWorkerSpec['upload_action_result']>((f) => {
  const d = UPLOAD_DEFAULTS;
  const out: LocalWorkerSpec['upload_action_result'] = {
    upload_ac_results_strategy: f.opt('upload_ac_results_strategy', oneOf(STRATEGIES), d.upload_ac_results_strategy),
    upload_historical_results_strategy: f.opt('upload_historical_results_strategy', oneOf(STRATEGIES), d.upload_historical_results_strategy),
    success_message_template: f.opt('success_message_template', str(), d.success_message_template),
    failure_message_template: f.opt('failure_message_template', str(), d.failure_message_template),
  };
  const ac = f.maybe('ac_store', refName('store'));
  if (ac !== undefined) out.ac_store = ac;
  const historical = f.maybe('historical_results_store', refName('store'));
  if (historical !== undefined) out.historical_results_store = historical;
  return out;
});

const ENV_WORDS = ['timeout_millis', 'side_channel_file', 'action_directory'] as const;

const environmentSource: Reader<EnvironmentSource> = (ctx, value, path) => {
  if (typeof value === 'string') {
    if ((ENV_WORDS as readonly string[]).includes(value)) return value as EnvironmentSource;
    return issue(ctx, path, `expected one of ${ENV_WORDS.map((w) => `"${w}"`).join(', ')}, { property: "..." } or { value: "..." }, got ${describe(value)}`);
  }
  if (isPlainObject(value) && Object.keys(value).length === 1) {
    if ('property' in value) {
      const property = readValue(ctx, value.property, joinKey(path, 'property'), str({ nonEmpty: true }));
      return property === undefined ? undefined : { property };
    }
    if ('value' in value) {
      const text = readValue(ctx, value.value, joinKey(path, 'value'), str());
      return text === undefined ? undefined : { value: text };
    }
  }
  return issue(ctx, path, `expected { property: "..." }, { value: "..." } or one of ${ENV_WORDS.map((w) => `"${w}"`).join(', ')}, got ${describe(value)}`);
};
