// Builds an S3 store with its client. Kept apart from factory.ts so the AWS
// SDK (about 20 MB of RSS) loads only when a config has an S3 store; see
// src/stores/optional-kinds.ts.
import type { CloudObjectStoreSpec } from '../../config/types.js';
import { CloudObjectStore } from '../cloud-object-store.js';
import type { StoreContext } from '../store-context.js';
import { createS3Client } from './client.js';

export function createCloudObjectStore(spec: CloudObjectStoreSpec, ctx: StoreContext): CloudObjectStore {
  return new CloudObjectStore(spec, createS3Client(spec, ctx.env ?? {}), ctx);
}
