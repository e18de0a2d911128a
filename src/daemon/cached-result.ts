// What counts as an action-cache hit for Execute: the result GetActionResult
// would answer (so the AC store's completeness rule applies: a
// completeness_checking store hides a result whose outputs left the CAS),
// and only one that ran to a zero exit code (Bazel runs a failed one again
// anyway). The Execution service and the `cache_lookup` scheduler both ask here.
import { type ActionResult, DIGEST_FUNCTION_SHA256 } from '../proto/reapi.js';
import type { StoreDriver } from '../stores/store.js';
import type { Digest } from '../util/digest.js';
import { isNotFound } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { AcServer } from './ac-server.js';
import { InstanceMap } from './instances.js';

export interface CachedResultQuery {
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly inlineStdout: boolean;
  readonly inlineStderr: boolean;
  readonly inlineOutputFiles: readonly string[];
}

/** The cached successful result of the action, or undefined. Errors other than NOT_FOUND propagate. */
export async function cachedSuccess(actionCache: AcServer, query: CachedResultQuery): Promise<ActionResult | undefined> {
  try {
    const result = await actionCache.getActionResult({
      instanceName: query.instanceName,
      actionDigest: query.actionDigest,
      inlineStdout: query.inlineStdout,
      inlineStderr: query.inlineStderr,
      inlineOutputFiles: [...query.inlineOutputFiles],
      digestFunction: DIGEST_FUNCTION_SHA256,
    });
    return result.exitCode === 0 ? result : undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * The same lookup in one AC store for any instance name (a `cache_lookup`
 * scheduler's ac_store), inlining from `cas` when given.
 */
export async function cachedSuccessIn(store: StoreDriver, cas: StoreDriver | undefined, query: CachedResultQuery, logger: Logger): Promise<ActionResult | undefined> {
  const instances = new InstanceMap('action cache', new Map([[query.instanceName, { store, readOnly: true, cas }]]));
  return cachedSuccess(new AcServer({ instances, logger }), query);
}
