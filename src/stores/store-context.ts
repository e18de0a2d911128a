// What the factory hands to every store it builds: injected dependencies only.
// No store reads env vars, files outside its own paths, or globals.
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { StoreDriver } from './store.js';

export interface StoreContext {
  readonly logger: Logger;
  readonly clock: Clock;
  /** Resolves a top-level store by its config name (for ref_store). Throws if unknown. */
  storeByName(name: string): StoreDriver;
  /** The daemon's catalog (upload journal, slow-tier presence); absent in tools and most tests. */
  readonly catalog?: Catalog;
  /** Config name of the top-level store being built, for ids that survive reordering the config. */
  readonly storeName?: string;
  /**
   * The environment remote stores take settings from (AWS credentials, region,
   * AWS_ENDPOINT_URL_S3): the daemon passes process.env, tests their own.
   * Absent = an empty environment.
   */
  readonly env?: NodeJS.ProcessEnv;
}
