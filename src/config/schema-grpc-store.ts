// The `grpc` store: NativeLink's GrpcSpec (instance_name, endpoints,
// store_type, retry, max_concurrent_requests, connections_per_endpoint,
// rpc_timeout_s, headers) plus ncache's token_file. The connection keys are
// read by schema-upstream.ts, shared with the grpc scheduler.
import type { GrpcStoreSpec } from './types.js';
import { bool, object, oneOf, type Reader, str } from './reader.js';
import { readUpstreamConnection, readUpstreamEndpoints } from './schema-upstream.js';

export const grpcStore: Reader<GrpcStoreSpec> = object<GrpcStoreSpec>((f) => {
  const instance_name = f.opt('instance_name', str(), '');
  const store_type = f.req('store_type', oneOf(['cas', 'ac'] as const), '"cas" or "ac"');
  const endpoints = readUpstreamEndpoints(f);
  const connection = readUpstreamConnection(f, endpoints);
  // Accepted without effect: ncache always names blobs `{instance}/blobs/{hash}/{size}` (what every server
  // accepts for SHA-256), reads small blobs with ByteStream, and sends them uncompressed.
  f.maybe('use_legacy_resource_names', bool);
  f.allow('experimental_read_batching');
  f.maybe('experimental_remote_cache_compression', bool);
  return { kind: 'grpc', instance_name, store_type, ...connection };
});
