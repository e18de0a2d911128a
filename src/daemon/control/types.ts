// What a control method gets: the daemon's parts (context), a way to stream
// progress, items and bytes back (output), and its params.
import type { Catalog } from '../../catalog/catalog.js';
import type { NcacheConfig } from '../../config/types.js';
import type { StoreManager } from '../../stores/factory.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import type { PinRegistry } from '../../maintenance/pins.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { Metrics } from '../metrics.js';
import type { ControlMethodName, ItemOf, ParamsOf, ResultOf } from './api.js';
import type { MaintenanceLock } from './maintenance-lock.js';
import type { ProgressUpdate } from './protocol.js';

export interface ControlContext {
  readonly config: NcacheConfig;
  /** The config file path, or a description of the built-in default. */
  readonly configSource: string;
  readonly stores: StoreManager;
  readonly catalog: Catalog;
  /** "HOST:PORT" per `servers[]` entry, real ports. */
  readonly addresses: string[];
  readonly startedAtMs: number;
  readonly pid: number;
  readonly version: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly stateDir: string;
  readonly socketPath: string;
  /** Request metrics of the gRPC services (src/daemon/metrics.ts), for `stats`. */
  readonly metrics?: Metrics;
  /** Keys in use by in-flight gRPC requests (the services' stores pin them); gc leaves them alone. */
  readonly pins: PinRegistry;
  /** One gc or verify at a time in this daemon. */
  readonly maintenance: MaintenanceLock;
  /** Remote execution's schedulers by config name (empty when the config runs no actions), for status, stats and ops. */
  readonly schedulers: ReadonlyMap<string, Scheduler>;
  /** Execute calls answered from the action cache (cached_result) since start; absent while the execution service does not count them. */
  readonly executeCacheHits?: () => number;
  /** Asks the daemon to stop once the current reply has been sent. */
  requestStop(opts: { force: boolean }): void;
}

export interface ControlOutput<Item = unknown> {
  progress(p: ProgressUpdate): void;
  item(item: Item): void;
  /** Sends blob bytes; resolves when the socket can take more (backpressure). Rejects once the client is gone. */
  bytes(buf: Buffer): Promise<void>;
  /** Aborted when the client goes away or the daemon stops. */
  readonly signal: AbortSignal;
}

/** A method as the server runs it: raw params in, any JSON out (methods.ts builds these from typed handlers). */
export type ControlMethod = (params: Record<string, unknown>, ctx: ControlContext, out: ControlOutput) => Promise<unknown>;

/** A method as it is written: its params parsed (params.ts), its result and items typed by api.ts. */
export type ControlHandler<M extends ControlMethodName> = (
  params: ParamsOf<M>,
  ctx: ControlContext,
  out: ControlOutput<ItemOf<M>>,
) => Promise<ResultOf<M>>;
