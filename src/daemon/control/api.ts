// The control protocol's methods: what each takes (params, as sent on the
// wire) and answers (result, and the items it streams). The daemon's handlers
// (methods.ts) and the commands' client (commands/daemon-client.ts) are both
// typed from this one table, and params.ts parses each method's params.
import type { GcReport } from '../../maintenance/gc.js';
import type { VerifyReport, VerifyTier } from '../../maintenance/verify.js';
import type { GetResult } from './get.js';
import type { LsEntry, LsKind, LsResult, LsSort } from './ls.js';
import type { OpsResult } from './ops.js';
import type { ShutdownResult } from './shutdown.js';
import type { StatsResult } from './stats.js';
import type { StatusResult } from './status.js';
import type { UpstreamStatus } from './upstream-status.js';

export type NoParams = Record<string, never>;

export interface ShutdownParams {
  /** No grace for in-flight calls and no upload flush (owed uploads stay journaled). */
  force?: boolean;
}

export interface LsParams {
  /** Default "all". */
  type?: LsKind | 'all';
  /** Default "name". */
  sort?: LsSort;
  /** At most this many rows, after sorting. */
  limit?: number;
}

export interface GetParams {
  /** SHA-256, 64 lowercase hex digits. */
  hash: string;
  /** Looked up when left out. */
  size?: number;
  /** The action cache (an Action digest) instead of the CAS. */
  ac?: boolean;
  /** The REAPI instance name; default "". */
  instance?: string;
}

export interface GcParams {
  targetBytes?: number;
  olderThanSeconds?: number;
  orphanGraceSeconds?: number;
  dryRun?: boolean;
}

export interface VerifyParams {
  /** Default "all". */
  tier?: VerifyTier;
  repair?: boolean;
}

export interface OpsParams {
  /** Only this scheduler (config name); default all. */
  scheduler?: string;
  /** Default "all". */
  stage?: 'queued' | 'executing' | 'completed' | 'all';
  /** At most this many rows, after ordering. */
  limit?: number;
}

export interface ControlApi {
  status: { params: NoParams; result: StatusResult };
  shutdown: { params: ShutdownParams; result: ShutdownResult };
  stats: { params: NoParams; result: StatsResult };
  ls: { params: LsParams; result: LsResult; item: LsEntry };
  /** Also streams the value as byte frames. */
  get: { params: GetParams; result: GetResult };
  gc: { params: GcParams; result: GcReport };
  verify: { params: VerifyParams; result: VerifyReport };
  ops: { params: OpsParams; result: OpsResult };
  /** Each upstream (grpc stores and schedulers) asked for its Capabilities now. */
  upstreams: { params: NoParams; result: { upstreams: UpstreamStatus[] } };
}

export type ControlMethodName = keyof ControlApi;
export type ParamsOf<M extends ControlMethodName> = ControlApi[M]['params'];
export type ResultOf<M extends ControlMethodName> = ControlApi[M]['result'];
/** What a method streams as item frames; never for methods that stream none. */
export type ItemOf<M extends ControlMethodName> = ControlApi[M] extends { item: infer I } ? I : never;
