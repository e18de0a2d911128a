// Store kinds whose code pulls in large dependencies are imported only when a
// config uses them: an idle local daemon should not pay for the AWS SDK, nor
// for @grpc/grpc-js (the grpc kind's client).
// Callers load them (async) before building stores (sync): the daemon does it
// in startDaemon, tests that build such stores through the factory call it too.
import { walkSpecs } from '../config/store-tree.js';
import type { StoreSpec } from '../config/types.js';
import { internal } from '../util/errors.js';

type CloudObjectStoreModule = typeof import('./s3/create-cloud-object-store.js');
type GrpcStoreModule = typeof import('./grpc-store.js');

let cloudObjectStoreModule: CloudObjectStoreModule | undefined;
let grpcStoreModule: GrpcStoreModule | undefined;

/** Imports the code of every optional kind used anywhere in `specs`. */
export async function loadStoreKinds(specs: readonly StoreSpec[]): Promise<void> {
  let needsS3 = false;
  let needsGrpc = false;
  for (const spec of specs) {
    walkSpecs(spec, '', (s) => {
      if (s.kind === 'experimental_cloud_object_store') needsS3 = true;
      if (s.kind === 'grpc') needsGrpc = true;
    });
  }
  if (needsS3) cloudObjectStoreModule ??= await import('./s3/create-cloud-object-store.js');
  if (needsGrpc) grpcStoreModule ??= await import('./grpc-store.js');
}

/** The S3 store's module; loadStoreKinds() must have seen an S3 spec first. */
export function loadedCloudObjectStoreModule(path: string): CloudObjectStoreModule {
  return loaded(cloudObjectStoreModule, 'S3', path);
}

/** The grpc store's module; loadStoreKinds() must have seen a grpc spec first. */
export function loadedGrpcStoreModule(path: string): GrpcStoreModule {
  return loaded(grpcStoreModule, 'grpc', path);
}

function loaded<M>(module: M | undefined, kind: string, path: string): M {
  if (module === undefined) {
    throw internal(`${path}: the ${kind} store's code was not loaded (loadStoreKinds() was not called with this config)`);
  }
  return module;
}
